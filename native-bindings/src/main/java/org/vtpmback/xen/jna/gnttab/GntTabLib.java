package org.vtpmback.xen.jna.gnttab;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import org.vtpmback.xen.jna.LazyLibrary;

/**
 * Raw binding of {@code libxengnttab.so.1} (Xen 4.17 {@code xengnttab.h}): C names and C shapes, no
 * checking. Every call reports failure through its return value plus errno; read errno with
 * {@code Native.getLastError()} immediately after a failed call, on the same thread. Use the checked
 * layer ({@code org.vtpmback.xen.GrantTable}) instead of calling this directly.
 *
 * <p>Handles are unusable in a forked child (only {@code close} is safe there).
 */
public interface GntTabLib extends Library {
    /** Loaded on first use; the soname pins the stable ABI (VERS_1.0/1.2). */
    LazyLibrary<GntTabLib> LIBRARY = new LazyLibrary<>("libxengnttab.so.1", GntTabLib.class);

    /** mmap protection bits from sys/mman.h, as {@code prot} expects. */
    int PROT_READ = 1;
    int PROT_WRITE = 2;

    /** Opens {@code /dev/xen/gntdev}. A NULL logger logs to stderr. NULL + errno on failure. */
    XenGntTabHandle xengnttab_open(Pointer logger, int openFlags);

    /** Frees the handle (even on error). Existing mappings must be unmapped first. */
    int xengnttab_close(XenGntTabHandle xgt);

    /** The gntdev fd; owned by the handle, never close it. (VERS_1.2) */
    int xengnttab_fd(XenGntTabHandle xgt);

    /**
     * Maps one grant of {@code domid}. Returns the start of a page-sized mmap owned by the caller,
     * released with {@link #xengnttab_unmap} (count 1). NULL + errno on failure.
     */
    Pointer xengnttab_map_grant_ref(XenGntTabHandle xgt, int domid, int ref, int prot);

    /**
     * Maps {@code count} grants of one domain into one contiguous area, all or nothing. Released with
     * {@link #xengnttab_unmap} and the same count. NULL + errno on failure.
     */
    Pointer xengnttab_map_domain_grant_refs(XenGntTabHandle xgt, int count, int domid, int[] refs, int prot);

    /** Unmaps an area returned by a map call; {@code count} must be its page count. -1 + errno. */
    int xengnttab_unmap(XenGntTabHandle xgt, Pointer startAddress, int count);

    /** Raises the per-handle grant limit; call right after open. -1 + errno. */
    int xengnttab_set_max_grants(XenGntTabHandle xgt, int nrGrants);
}
