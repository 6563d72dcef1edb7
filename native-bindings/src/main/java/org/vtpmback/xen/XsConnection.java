package org.vtpmback.xen;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import org.vtpmback.xen.jna.LibC;
import org.vtpmback.xen.jna.Poll;
import org.vtpmback.xen.jna.xs.XenStoreLib;
import org.vtpmback.xen.jna.xs.XsHandle;

/**
 * Checked layer over libxenstore: one connection to xenstored, Java types in and out, errno turned
 * into {@link XenErrnoException} naming the call, the path and the errno. Absence (ENOENT) is a normal
 * answer in xenstore and comes back as an empty result, not an exception.
 *
 * <p>Thread-safe: libxenstore serialises requests on a handle. {@link #close()} is idempotent and waits
 * (bounded) for calls in flight: libxenstore's xs_close cancels its reader thread and then takes the request
 * lock, so a request still waiting for its reply would hang it forever (seen: a daemon stopping while a
 * watch-triggered scan listed a directory). Calls after close throw {@link IllegalStateException}.
 */
public final class XsConnection implements AutoCloseable {
    /** Environment variable libxenstore reads on every xs_open() to find the daemon's socket. */
    public static final String XENSTORED_PATH = "XENSTORED_PATH";

    private static final Object OPEN_LOCK = new Object();

    private final XenStoreLib lib;
    private final XsHandle handle;
    private final String name;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Read side: one per call in flight; write side: {@link #close()}. */
    private final ReentrantReadWriteLock inFlight = new ReentrantReadWriteLock();
    /** How long close waits for calls in flight; xenstored answers in microseconds, a stuck one never. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(10);
    private final int watchFd;

    XsConnection(XenStoreLib lib, XsHandle handle, String name) {
        this.lib = lib;
        this.handle = handle;
        this.name = name;
        // Creating the watch pipe now means events queued from here on are signalled on it.
        this.watchFd = lib.xs_fileno(handle);
    }

    /**
     * Connects to xenstored: through {@code socket} if given, else libxenstore's default (the
     * XENSTORED_PATH environment variable, /var/run/xenstored/socket, then /dev/xen/xenbus).
     */
    public static XsConnection open(Optional<Path> socket) {
        XenStoreLib lib = XenStoreLib.LIBRARY.get();
        String where = socket.map(Path::toString).orElse("default xenstored");
        synchronized (OPEN_LOCK) {
            // 4.17 has no xs_open variant taking a path: point the env var at it for this one call.
            socket.ifPresent(s -> LibC.LIBRARY.get().setenv(XENSTORED_PATH, s.toString(), 1));
            try {
                XsHandle h = lib.xs_open(new NativeLong(XenStoreLib.XS_UNWATCH_FILTER));
                if (h == null) {
                    throw new XenErrnoException("xs_open", where, Native.getLastError());
                }
                return new XsConnection(lib, h, where);
            } finally {
                socket.ifPresent(s -> restoreEnvironment());
            }
        }
    }

    private static void restoreEnvironment() {
        String original = System.getenv(XENSTORED_PATH); // the JVM's copy is the value at start-up
        if (original == null) {
            LibC.LIBRARY.get().unsetenv(XENSTORED_PATH);
        } else {
            LibC.LIBRARY.get().setenv(XENSTORED_PATH, original, 1);
        }
    }

    public Optional<byte[]> read(int txn, String path) {
        IntByReference len = new IntByReference();
        Pointer buf = call(h -> lib.xs_read(h, txn, path, len));
        if (buf == null) {
            return absentOrThrow("xs_read", path, Native.getLastError());
        }
        try {
            return Optional.of(buf.getByteArray(0, len.getValue()));
        } finally {
            LibC.LIBRARY.get().free(buf);
        }
    }

    public void write(int txn, String path, byte[] value) {
        check(call(h -> lib.xs_write(h, txn, path, value, value.length)), "xs_write", path);
    }

    public void mkdir(int txn, String path) {
        check(call(h -> lib.xs_mkdir(h, txn, path)), "xs_mkdir", path);
    }

    /** Removes a node and its subtree; a node that is already gone is not an error. */
    public void rm(int txn, String path) {
        if (call(h -> lib.xs_rm(h, txn, path)) == 0) {
            absentOrThrow("xs_rm", path, Native.getLastError());
        }
    }

    public Optional<List<String>> directory(int txn, String path) {
        IntByReference num = new IntByReference();
        Pointer buf = call(h -> lib.xs_directory(h, txn, path, num));
        if (buf == null) {
            return absentOrThrow("xs_directory", path, Native.getLastError());
        }
        try {
            return Optional.of(strings(buf, num.getValue()));
        } finally {
            LibC.LIBRARY.get().free(buf);
        }
    }

    public Optional<List<XsNodePermission>> getPermissions(int txn, String path) {
        IntByReference num = new IntByReference();
        Pointer buf = call(h -> lib.xs_get_permissions(h, txn, path, num));
        if (buf == null) {
            return absentOrThrow("xs_get_permissions", path, Native.getLastError());
        }
        try {
            List<XsNodePermission> perms = new ArrayList<>(num.getValue());
            for (int i = 0; i < num.getValue(); i++) {
                long at = (long) i * XenStoreLib.XS_PERMISSIONS_SIZE;
                perms.add(new XsNodePermission(buf.getInt(at), buf.getInt(at + 4)));
            }
            return Optional.of(perms);
        } finally {
            LibC.LIBRARY.get().free(buf);
        }
    }

    public void setPermissions(int txn, String path, List<XsNodePermission> perms) {
        if (perms.isEmpty()) {
            throw new IllegalArgumentException("a node needs at least an owner permission: " + path);
        }
        try (Memory array = new Memory((long) perms.size() * XenStoreLib.XS_PERMISSIONS_SIZE)) {
            for (int i = 0; i < perms.size(); i++) {
                long at = (long) i * XenStoreLib.XS_PERMISSIONS_SIZE;
                array.setInt(at, perms.get(i).domid());
                array.setInt(at + 4, perms.get(i).perms());
            }
            check(call(h -> lib.xs_set_permissions(h, txn, path, array, perms.size())), "xs_set_permissions", path);
        }
    }

    public void watch(String path, String token) {
        check(call(h -> lib.xs_watch(h, path, token)), "xs_watch", path + " token " + token);
    }

    public void unwatch(String path, String token) {
        check(call(h -> lib.xs_unwatch(h, path, token)), "xs_unwatch", path + " token " + token);
    }

    /** The descriptor that turns readable when watch events are queued ({@code xs_fileno}). */
    public int watchFd() {
        return watchFd;
    }

    /** Waits until a watch event may be queued; true if so. Only one thread should wait at a time. */
    public boolean awaitWatchEvent(Duration timeout) {
        return call(h -> Poll.awaitReadable(watchFd, timeout, "xs_fileno " + name));
    }

    /** The next queued watch event without blocking; empty when none is queued. */
    public Optional<XsWatchEvent> checkWatch() {
        Pointer buf = call(h -> lib.xs_check_watch(h));
        if (buf == null) {
            int errno = Native.getLastError();
            if (errno == Errno.EAGAIN.value()) {
                return Optional.empty();
            }
            throw new XenErrnoException("xs_check_watch", name, errno);
        }
        return Optional.of(watchEvent(buf, 2));
    }

    /** Blocks until a watch event arrives. Prefer {@link #awaitWatchEvent} + {@link #checkWatch}: this cannot be interrupted. */
    public XsWatchEvent readWatch() {
        IntByReference num = new IntByReference();
        Pointer buf = call(h -> lib.xs_read_watch(h, num));
        if (buf == null) {
            throw new XenErrnoException("xs_read_watch", name, Native.getLastError());
        }
        return watchEvent(buf, num.getValue());
    }

    public int transactionStart() {
        int txn = call(h -> lib.xs_transaction_start(h));
        if (txn == XenStoreLib.XBT_NULL) {
            throw new XenErrnoException("xs_transaction_start", name, Native.getLastError());
        }
        return txn;
    }

    /** Commits (or aborts) the transaction; false when a commit conflicted (EAGAIN) and must be redone. */
    public boolean transactionEnd(int txn, boolean abort) {
        if (call(h -> lib.xs_transaction_end(h, txn, (byte) (abort ? 1 : 0))) != 0) {
            return true;
        }
        int errno = Native.getLastError();
        if (errno == Errno.EAGAIN.value() && !abort) {
            return false;
        }
        throw new XenErrnoException("xs_transaction_end", "transaction " + txn + (abort ? " abort" : " commit"), errno);
    }

    public String domainPath(int domid) {
        Pointer buf = call(h -> lib.xs_get_domain_path(h, domid));
        if (buf == null) {
            throw new XenErrnoException("xs_get_domain_path", "domid " + domid, Native.getLastError());
        }
        try {
            return buf.getString(0, StandardCharsets.UTF_8.name());
        } finally {
            LibC.LIBRARY.get().free(buf);
        }
    }

    /** Whether xenstored knows the domain. Errors other than "no" are thrown. */
    public boolean isDomainIntroduced(int domid) {
        // libxenstore returns false both for "no" and for a failed request; errno tells them apart.
        Native.setLastError(0);
        if (call(h -> lib.xs_is_domain_introduced(h, domid)) != 0) {
            return true;
        }
        int errno = Native.getLastError();
        if (errno != 0 && errno != Errno.ENOENT.value() && errno != Errno.EINVAL.value()) {
            throw new XenErrnoException("xs_is_domain_introduced", "domid " + domid, errno);
        }
        return false;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        boolean idle;
        try {
            idle = inFlight.writeLock().tryLock(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            idle = false;
        }
        if (!idle) {
            // xs_close would hang behind the call that is stuck: leak the handle (the process is usually ending)
            System.getLogger(XsConnection.class.getName()).log(System.Logger.Level.WARNING,
                    "xenstore connection to {0}: a call did not return within {1} s; not closing the handle", name,
                    CLOSE_WAIT.toSeconds());
            return;
        }
        try {
            lib.xs_close(handle);
        } finally {
            inFlight.writeLock().unlock();
        }
    }

    /** Runs {@code call} on the open handle, counted as in flight so that {@link #close()} waits for it. */
    private <T> T call(Function<XsHandle, T> call) {
        inFlight.readLock().lock();
        try {
            if (closed.get()) {
                throw new IllegalStateException("xenstore connection to " + name + " is closed");
            }
            return call.apply(handle);
        } finally {
            inFlight.readLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "XsConnection[" + name + (closed.get() ? ", closed]" : "]");
    }

    private static void check(byte ok, String call, String path) {
        if (ok == 0) {
            throw new XenErrnoException(call, path, Native.getLastError());
        }
    }

    private static <T> Optional<T> absentOrThrow(String call, String path, int errno) {
        if (errno == Errno.ENOENT.value()) {
            return Optional.empty();
        }
        throw new XenErrnoException(call, path, errno);
    }

    private static List<String> strings(Pointer array, int count) {
        List<String> out = new ArrayList<>(count);
        for (Pointer p : array.getPointerArray(0, count)) {
            out.add(p.getString(0, StandardCharsets.UTF_8.name()));
        }
        return out;
    }

    private static XsWatchEvent watchEvent(Pointer buf, int count) {
        try {
            List<String> parts = strings(buf, Math.max(2, count));
            return new XsWatchEvent(parts.get(XenStoreLib.XS_WATCH_PATH), parts.get(XenStoreLib.XS_WATCH_TOKEN));
        } finally {
            LibC.LIBRARY.get().free(buf);
        }
    }
}
