package org.vtpmback.xen.jna.evtchn;

import com.sun.jna.Pointer;
import com.sun.jna.PointerType;

/**
 * Opaque {@code xenevtchn_handle *} from {@code xenevtchn_open}. Owned by whoever opened it; released
 * only by {@code xenevtchn_close}, which also unbinds every port still bound on it.
 */
public final class XenEvtchnHandle extends PointerType {
    /** Used by JNA when the handle is a return value. */
    public XenEvtchnHandle() {
    }

    /** Wraps an existing pointer (tests use a dummy {@code Memory}). */
    public XenEvtchnHandle(Pointer p) {
        super(p);
    }
}
