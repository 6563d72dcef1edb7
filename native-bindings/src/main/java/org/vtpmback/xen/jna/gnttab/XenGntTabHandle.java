package org.vtpmback.xen.jna.gnttab;

import com.sun.jna.Pointer;
import com.sun.jna.PointerType;

/**
 * Opaque {@code xengnttab_handle *} from {@code xengnttab_open}. Typed so that a handle of one library
 * cannot be passed to another. Owned by whoever opened it; released only by {@code xengnttab_close}.
 */
public final class XenGntTabHandle extends PointerType {
    /** Used by JNA when the handle is a return value. */
    public XenGntTabHandle() {
    }

    /** Wraps an existing pointer (tests use a dummy {@code Memory}). */
    public XenGntTabHandle(Pointer p) {
        super(p);
    }
}
