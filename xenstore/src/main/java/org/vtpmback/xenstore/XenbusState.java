package org.vtpmback.xenstore;

import java.util.Optional;

/**
 * The xenbus device states, stored as decimal strings in {@code .../state}
 * (xen/include/public/io/xenbus.h). A missing node reads as {@link #UNKNOWN}, as Linux does.
 */
public enum XenbusState {
    UNKNOWN(0),
    INITIALISING(1),
    INIT_WAIT(2),
    INITIALISED(3),
    CONNECTED(4),
    CLOSING(5),
    CLOSED(6),
    RECONFIGURING(7),
    RECONFIGURED(8);

    private final int value;

    XenbusState(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    /** The string written to xenstore. */
    public String wire() {
        return Integer.toString(value);
    }

    public static Optional<XenbusState> of(int value) {
        return value >= 0 && value < values().length ? Optional.of(values()[value]) : Optional.empty();
    }

    /**
     * Parses a state node's value strictly: a decimal 0-8, nothing else. Absent or malformed values
     * (a guest can write anything into its own state node) give empty.
     */
    public static Optional<XenbusState> parse(String wire) {
        if (wire == null || wire.length() != 1 || wire.charAt(0) < '0' || wire.charAt(0) > '8') {
            return Optional.empty();
        }
        return of(wire.charAt(0) - '0');
    }

    @Override
    public String toString() {
        return name() + "(" + value + ")";
    }
}
