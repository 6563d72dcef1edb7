package org.vtpmback.backend.xen;

import java.nio.ByteBuffer;
import org.vtpmback.xen.GrantMapping;
import org.vtpmback.xen.GrantTable;

/**
 * {@link GrantMapper} on real Xen: one {@code /dev/xen/gntdev} handle (libxengnttab) for the whole
 * daemon. Thread-safe (the checked layer serialises calls on the handle).
 */
public final class XenGrantMapper implements GrantMapper, AutoCloseable {
    private final GrantTable table;

    private XenGrantMapper(GrantTable table) {
        this.table = table;
    }

    /** Opens the grant device; throws a clear error where Xen (or gntdev) is missing. */
    public static XenGrantMapper open() {
        return new XenGrantMapper(GrantTable.open());
    }

    @Override
    public MappedGrant map(int domid, int grantRef) {
        GrantMapping mapping = table.map(domid, grantRef, true);
        return new MappedGrant() {
            @Override
            public ByteBuffer page() {
                return mapping.buffer();
            }

            @Override
            public void close() {
                mapping.close();
            }

            @Override
            public String toString() {
                return "grant " + Integer.toUnsignedString(grantRef) + " of domain " + domid;
            }
        };
    }

    /** Closes the handle; mappings still open are unmapped by it. */
    @Override
    public void close() {
        table.close();
    }
}
