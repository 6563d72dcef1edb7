package org.vtpmback.xen.jna.xs;

import com.sun.jna.PointerType;

/** Opaque {@code struct xs_handle *} from {@code xs_open}; released only by {@code xs_close}. */
public final class XsHandle extends PointerType {
}
