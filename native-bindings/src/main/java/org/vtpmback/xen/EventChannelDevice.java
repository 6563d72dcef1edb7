package org.vtpmback.xen;

import com.sun.jna.Native;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.IntSupplier;
import org.vtpmback.xen.jna.Poll;
import org.vtpmback.xen.jna.evtchn.EvtchnLib;
import org.vtpmback.xen.jna.evtchn.XenEvtchnHandle;

/**
 * A handle on the event-channel device ({@code /dev/xen/evtchn} through libxenevtchn).
 *
 * <p>One handle multiplexes all the ports bound on it: {@link #pending()} says which port fired.
 * A port is masked when its event is delivered; call {@link #unmask(int)} after handling it or no
 * further event arrives on that port. As {@code xenevtchn.h} requires, wait with
 * {@link #awaitEvent(Duration)} (poll on the fd) before calling {@link #pending()}.
 *
 * <p>Ownership: the caller owns the device and closes it; closing unbinds every port still bound.
 *
 * <p>Thread-safety: bind, unbind, notify and unmask may be called from any thread. Do not poll or
 * read {@link #pending()} on one handle from several threads: give each event thread its own handle.
 * {@link #close()} is idempotent and waits for calls in progress; stop the thread blocked in
 * {@link #awaitEvent(Duration)} before closing (its poll does not hold the handle). Any call after
 * close throws {@link IllegalStateException}.
 */
public final class EventChannelDevice implements AutoCloseable {
    private final EvtchnLib lib;
    private final XenEvtchnHandle handle;
    private final AtomicBoolean closed = new AtomicBoolean();
    // Calls share the read lock, close takes the write lock: the handle is never freed mid-call.
    private final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();

    private EventChannelDevice(EvtchnLib lib, XenEvtchnHandle handle) {
        this.lib = lib;
        this.handle = handle;
    }

    /**
     * Opens the event-channel device (close-on-exec).
     *
     * @throws XenLibraryUnavailableException if libxenevtchn.so.1 cannot be loaded
     * @throws XenErrnoException if {@code xenevtchn_open} fails (no /dev/xen/evtchn, not privileged)
     */
    public static EventChannelDevice open() {
        return open(EvtchnLib.LIBRARY.get());
    }

    /** Seam for tests: open through a given (possibly mocked) raw library. */
    static EventChannelDevice open(EvtchnLib lib) {
        XenEvtchnHandle h = lib.xenevtchn_open(null, 0);
        if (h == null) {
            throw new XenErrnoException("xenevtchn_open", "/dev/xen/evtchn", Native.getLastError());
        }
        return new EventChannelDevice(lib, h);
    }

    /** The fd to poll, owned by this device (do not close it). */
    public int fd() {
        return call("xenevtchn_fd", "evtchn handle", () -> lib.xenevtchn_fd(handle));
    }

    /**
     * Binds to the guest's {@code remotePort} (the frontend's unbound port).
     *
     * @return the local port, to use with the other methods
     */
    public int bindInterdomain(int domid, int remotePort) {
        GrantTable.checkDomid(domid);
        checkPort(remotePort);
        return call("xenevtchn_bind_interdomain", "domid " + domid + " remote port " + remotePort,
                () -> lib.xenevtchn_bind_interdomain(handle, domid, remotePort));
    }

    /** Allocates a local port that {@code domid} may bind to; returns it. */
    public int bindUnboundPort(int domid) {
        GrantTable.checkDomid(domid);
        return call("xenevtchn_bind_unbound_port", "domid " + domid,
                () -> lib.xenevtchn_bind_unbound_port(handle, domid));
    }

    /** Unbinds a local port returned by a bind method. */
    public void unbind(int port) {
        checkPort(port);
        call("xenevtchn_unbind", "port " + port, () -> lib.xenevtchn_unbind(handle, port));
    }

    /** Signals the remote end of local {@code port}. */
    public void notify(int port) {
        checkPort(port);
        call("xenevtchn_notify", "port " + port, () -> lib.xenevtchn_notify(handle, port));
    }

    /**
     * Waits until an event is pending or {@code timeout} passes (poll on the fd; EINTR counts as a
     * timeout). Call {@link #pending()} after a true result.
     *
     * @return true if the fd is readable
     */
    public boolean awaitEvent(Duration timeout) {
        return Poll.awaitReadable(fd(), timeout, "xenevtchn_fd");
    }

    /**
     * The next local port with a delivered event, now masked; empty when none is pending (EAGAIN).
     * Call {@link #unmask(int)} on the port once it has been handled.
     */
    public OptionalInt pending() {
        Lock l = rw.readLock();
        l.lock();
        try {
            ensureOpen();
            int port = lib.xenevtchn_pending(handle);
            if (port >= 0) {
                return OptionalInt.of(port);
            }
            int errno = Native.getLastError();
            if (errno == Errno.EAGAIN.value()) {
                return OptionalInt.empty(); // spurious wake-up or another reader got it
            }
            throw new XenErrnoException("xenevtchn_pending", "evtchn handle", errno);
        } finally {
            l.unlock();
        }
    }

    /** Re-enables delivery on local {@code port} after its event was handled. */
    public void unmask(int port) {
        checkPort(port);
        call("xenevtchn_unmask", "port " + port, () -> lib.xenevtchn_unmask(handle, port));
    }

    /** Frees the handle, unbinding its ports. Idempotent and thread-safe. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Lock l = rw.writeLock();
        l.lock();
        try {
            if (lib.xenevtchn_close(handle) < 0) {
                throw new XenErrnoException("xenevtchn_close", "evtchn handle", Native.getLastError());
            }
        } finally {
            l.unlock();
        }
    }

    /** Runs one C call that returns a value or -1 + errno, under the read lock. */
    private int call(String name, String subject, IntSupplier c) {
        Lock l = rw.readLock();
        l.lock();
        try {
            ensureOpen();
            int rc = c.getAsInt();
            if (rc < 0) {
                // Nothing runs between the C call and this read: errno is still the call's.
                throw new XenErrnoException(name, subject, Native.getLastError());
            }
            return rc;
        } finally {
            l.unlock();
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("event channel device is closed");
        }
    }

    private static void checkPort(int port) {
        if (port < 0) {
            throw new IllegalArgumentException("event channel port out of range: " + Integer.toUnsignedString(port));
        }
    }
}
