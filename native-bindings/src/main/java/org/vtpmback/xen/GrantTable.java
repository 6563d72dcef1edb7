package org.vtpmback.xen;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.xen.jna.gnttab.GntTabLib;
import org.vtpmback.xen.jna.gnttab.XenGntTabHandle;

/**
 * A handle on the grant-table device ({@code /dev/xen/gntdev} through libxengnttab), used to map
 * pages that a guest granted to this domain.
 *
 * <p>Ownership: the caller owns the table and closes it; each {@link GrantMapping} is owned by the
 * caller of {@code map*}. Closing the table first unmaps every mapping still open (libxengnttab needs
 * the handle to unmap), then frees the handle.
 *
 * <p>Thread-safety: thread-safe. All native calls on the handle are serialized on one lock, so a
 * mapping can never be unmapped through a handle that another thread is freeing. {@link #close()} is
 * idempotent; any other call after it throws {@link IllegalStateException}.
 */
public final class GrantTable implements AutoCloseable {
    /** Grants are always 4 KiB pages, whatever the host page size (XEN_PAGE_SIZE). */
    public static final int PAGE_SIZE = 4096;

    private final GntTabLib lib;
    private final XenGntTabHandle handle;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Object lock = new Object();
    /** Mappings not yet unmapped; guarded by {@link #lock}. Membership is the right to unmap. */
    private final Set<GrantMapping> live = Collections.newSetFromMap(new IdentityHashMap<>());

    private GrantTable(GntTabLib lib, XenGntTabHandle handle) {
        this.lib = lib;
        this.handle = handle;
    }

    /**
     * Opens the grant-table device.
     *
     * @throws XenLibraryUnavailableException if libxengnttab.so.1 cannot be loaded
     * @throws XenErrnoException if {@code xengnttab_open} fails (no /dev/xen/gntdev, not dom0, ...)
     */
    public static GrantTable open() {
        return open(GntTabLib.LIBRARY.get());
    }

    /** Seam for tests: open through a given (possibly mocked) raw library. */
    static GrantTable open(GntTabLib lib) {
        XenGntTabHandle h = lib.xengnttab_open(null, 0);
        if (h == null) {
            throw new XenErrnoException("xengnttab_open", "/dev/xen/gntdev", Native.getLastError());
        }
        return new GrantTable(lib, h);
    }

    /** The device fd, owned by this table (do not close it). */
    public int fd() {
        synchronized (lock) {
            ensureOpen();
            int fd = lib.xengnttab_fd(handle);
            if (fd < 0) {
                throw new XenErrnoException("xengnttab_fd", "gntdev handle", Native.getLastError());
            }
            return fd;
        }
    }

    /** Raises how many grants this handle may map at once; call right after {@link #open()}. */
    public void setMaxGrants(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("max grants must be positive: " + n);
        }
        synchronized (lock) {
            ensureOpen();
            if (lib.xengnttab_set_max_grants(handle, n) < 0) {
                throw new XenErrnoException("xengnttab_set_max_grants", "max grants " + n, Native.getLastError());
            }
        }
    }

    /**
     * Maps one page that {@code domid} granted with {@code ref}.
     *
     * @param writable map read-write (PROT_READ|PROT_WRITE) instead of read-only
     * @return a one-page mapping the caller must close
     * @throws XenErrnoException naming the domid and ref, e.g. EACCES if the grant is not ours
     */
    public GrantMapping map(int domid, int ref, boolean writable) {
        checkDomid(domid);
        checkRef(ref);
        String subject = "domid " + domid + " ref " + ref;
        synchronized (lock) {
            ensureOpen();
            Pointer start = lib.xengnttab_map_grant_ref(handle, domid, ref, prot(writable));
            if (start == null) {
                throw new XenErrnoException("xengnttab_map_grant_ref", subject, Native.getLastError());
            }
            return register(new GrantMapping(this, start, 1, subject));
        }
    }

    /**
     * Maps several pages of one domain into one contiguous area, all or nothing.
     *
     * @return a mapping of {@code refs.length} pages, in the order of {@code refs}; the caller closes it
     */
    public GrantMapping mapDomainRefs(int domid, int[] refs, boolean writable) {
        checkDomid(domid);
        if (refs.length == 0) {
            throw new IllegalArgumentException("no grant refs to map");
        }
        for (int ref : refs) {
            checkRef(ref);
        }
        int[] copy = refs.clone(); // the caller may change its array while we use it
        String subject = "domid " + domid + " refs " + Arrays.toString(copy);
        synchronized (lock) {
            ensureOpen();
            Pointer start = lib.xengnttab_map_domain_grant_refs(handle, copy.length, domid, copy, prot(writable));
            if (start == null) {
                throw new XenErrnoException("xengnttab_map_domain_grant_refs", subject, Native.getLastError());
            }
            return register(new GrantMapping(this, start, copy.length, subject));
        }
    }

    /**
     * Unmaps every mapping still open, then frees the handle. Idempotent and thread-safe. If an unmap
     * fails the handle is still freed and the first failure is thrown afterwards.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        List<XenErrnoException> failures = new ArrayList<>();
        synchronized (lock) {
            for (GrantMapping m : live) {
                m.markClosed();
                try {
                    unmapNow(m);
                } catch (XenErrnoException e) {
                    failures.add(e);
                }
            }
            live.clear();
            if (lib.xengnttab_close(handle) < 0) {
                failures.add(new XenErrnoException("xengnttab_close", "gntdev handle", Native.getLastError()));
            }
        }
        if (!failures.isEmpty()) {
            XenErrnoException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    /** Called once per mapping by {@link GrantMapping#close()}. */
    void release(GrantMapping m) {
        synchronized (lock) {
            // Absent when close() of the table already unmapped it (and the handle may be gone).
            if (live.remove(m)) {
                unmapNow(m);
            }
        }
    }

    private void unmapNow(GrantMapping m) {
        if (lib.xengnttab_unmap(handle, m.start(), m.pageCount()) < 0) {
            throw new XenErrnoException("xengnttab_unmap", m.subject(), Native.getLastError());
        }
    }

    private GrantMapping register(GrantMapping m) {
        live.add(m);
        return m;
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("grant table is closed");
        }
    }

    private static int prot(boolean writable) {
        return writable ? GntTabLib.PROT_READ | GntTabLib.PROT_WRITE : GntTabLib.PROT_READ;
    }

    static void checkDomid(int domid) {
        if (!DomainId.isValid(domid)) {
            throw new IllegalArgumentException("not a domain id: " + domid);
        }
    }

    private static void checkRef(int ref) {
        if (ref < 0) {
            throw new IllegalArgumentException("grant ref out of range: " + Integer.toUnsignedString(ref));
        }
    }
}
