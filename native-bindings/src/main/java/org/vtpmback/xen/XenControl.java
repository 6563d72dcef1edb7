package org.vtpmback.xen;

import com.sun.jna.Native;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.xen.jna.xc.XcDomainInfo;
import org.vtpmback.xen.jna.xc.XcInterface;
import org.vtpmback.xen.jna.xc.XenCtrlLib;

/**
 * A handle on libxenctrl ({@code xc_interface}), used only to ask the hypervisor about domains.
 * libxenctrl must match the running hypervisor exactly; this class binds the 4.17 library.
 *
 * <p>Ownership: the caller owns the handle and closes it.
 *
 * <p>Thread-safety: thread-safe; calls are serialized on the handle, which is cheap for the rare
 * queries the daemon makes. {@link #close()} is idempotent; calls after it throw
 * {@link IllegalStateException}.
 */
public final class XenControl implements AutoCloseable {
    private final XenCtrlLib lib;
    private final XcInterface handle;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Object lock = new Object();

    private XenControl(XenCtrlLib lib, XcInterface handle) {
        this.lib = lib;
        this.handle = handle;
    }

    /**
     * Opens the hypervisor control interface.
     *
     * @throws XenLibraryUnavailableException if libxenctrl.so.4.17 cannot be loaded
     * @throws XenErrnoException if {@code xc_interface_open} fails (no privcmd device, not dom0)
     */
    public static XenControl open() {
        return open(XenCtrlLib.LIBRARY.get());
    }

    /** Seam for tests: open through a given (possibly mocked) raw library. */
    static XenControl open(XenCtrlLib lib) {
        XcInterface h = lib.xc_interface_open(null, null, 0);
        if (h == null) {
            throw new XenErrnoException("xc_interface_open", "/dev/xen/privcmd", Native.getLastError());
        }
        return new XenControl(lib, h);
    }

    /**
     * The current state of domain {@code domid}, or empty if no such domain exists.
     *
     * @throws XenErrnoException if the hypercall fails (e.g. EPERM outside dom0)
     */
    public Optional<DomainInfo> domainInfo(int domid) {
        GrantTable.checkDomid(domid);
        XcDomainInfo info = new XcDomainInfo();
        synchronized (lock) {
            ensureOpen();
            int n = lib.xc_domain_getinfolist(handle, domid, 1, info.getPointer());
            if (n < 0) {
                throw new XenErrnoException("xc_domain_getinfolist", "domid " + domid, Native.getLastError());
            }
            if (n == 0) {
                return Optional.empty();
            }
        }
        info.read();
        // getinfolist returns the next existing domain >= domid, which may be another one.
        if (Short.toUnsignedInt(info.domain) != domid) {
            return Optional.empty();
        }
        return Optional.of(new DomainInfo(domid, info.flags, DomainInfo.uuidOf(info.handle), info.tot_pages,
                info.cpu_time, info.nr_online_vcpus));
    }

    /** Frees the handle. Idempotent and thread-safe. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        synchronized (lock) {
            if (lib.xc_interface_close(handle) < 0) {
                throw new XenErrnoException("xc_interface_close", "xc handle", Native.getLastError());
            }
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("xen control interface is closed");
        }
    }
}
