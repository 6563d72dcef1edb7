package org.vtpmback.xen.jna.xc;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import org.vtpmback.xen.jna.LazyLibrary;

/**
 * Raw binding of {@code libxenctrl.so.4.17} ({@code xenctrl.h}). libxenctrl's ABI changes with every
 * Xen release and the library must match the running hypervisor, so the soname is pinned and the
 * call surface kept to the three calls below. Read errno with {@code Native.getLastError()} right
 * after a failed call. Use the checked layer ({@code org.vtpmback.xen.XenControl}) instead.
 */
public interface XenCtrlLib extends Library {
    /** Loaded on first use. Xen 4.18 renames the soname (and drops xc_domain_getinfo). */
    LazyLibrary<XenCtrlLib> LIBRARY = new LazyLibrary<>("libxenctrl.so.4.17", XenCtrlLib.class);

    /** Opens the privcmd device. NULL loggers log to stderr. NULL + errno on failure. */
    XcInterface xc_interface_open(Pointer logger, Pointer dombuildLogger, int openFlags);

    /** Frees the handle. 0, or -1 on error. */
    int xc_interface_close(XcInterface xch);

    /**
     * Fills up to {@code maxDomains} consecutive {@link XcDomainInfo} records (112 bytes each) at
     * {@code info}, caller-allocated and caller-owned, for the existing domains with id &gt;=
     * {@code firstDomain}: the first record may be a later domain than asked for. Returns the number
     * filled (0 when none), or -1 + errno.
     */
    int xc_domain_getinfolist(XcInterface xch, int firstDomain, int maxDomains, Pointer info);
}
