package org.vtpmback.xen;

import java.util.Optional;

/**
 * A Xen domain id, checked once here: 0 (dom0) up to {@link #MAX}. Ids from DOMID_FIRST_RESERVED
 * (0x7FF0: DOMID_SELF, DOMID_IO, ...) on are special values of the hypercall interface, never a domain
 * ({@code xen/include/public/xen.h}). Immutable.
 *
 * @param value the id, 0 to {@link #MAX}
 */
public record DomainId(int value) {
    /** DOMID_FIRST_RESERVED. */
    public static final int FIRST_RESERVED = 0x7FF0;
    /** The largest id a real domain can have. */
    public static final int MAX = FIRST_RESERVED - 1;

    public DomainId {
        if (!isValid(value)) {
            throw new IllegalArgumentException(value + " is not a domain id (0 to " + MAX + ")");
        }
    }

    /** Whether {@code value} names a real domain (0 to {@link #MAX}). */
    public static boolean isValid(int value) {
        return value >= 0 && value <= MAX;
    }

    /** A guest's id: 1 to {@link #MAX} (dom0 is never a vTPM frontend); empty for anything else. */
    public static Optional<DomainId> guest(int value) {
        return value >= 1 && value <= MAX ? Optional.of(new DomainId(value)) : Optional.empty();
    }

    @Override
    public String toString() {
        return Integer.toString(value);
    }
}
