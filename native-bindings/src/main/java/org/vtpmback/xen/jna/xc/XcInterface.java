package org.vtpmback.xen.jna.xc;

import com.sun.jna.Pointer;
import com.sun.jna.PointerType;

/**
 * Opaque {@code xc_interface *} from {@code xc_interface_open}. Owned by whoever opened it; released
 * only by {@code xc_interface_close}.
 */
public final class XcInterface extends PointerType {
    /** Used by JNA when the handle is a return value. */
    public XcInterface() {
    }

    /** Wraps an existing pointer (tests use a dummy {@code Memory}). */
    public XcInterface(Pointer p) {
        super(p);
    }
}
