package org.vtpmback.xenstore.libxs;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.XenErrnoException;
import org.vtpmback.xen.XsConnection;
import org.vtpmback.xenstore.TransactionBody;
import org.vtpmback.xenstore.TransactionConflictException;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.WatchHandler;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.XsPermission;

/**
 * {@link XenStore} over libxenstore (through the checked layer of native-bindings). Thread-safe.
 * Owns one connection and one watch reader thread; {@link #close()} releases both.
 */
public final class LibXenStore implements XenStore {
    private final XsConnection conn;
    private final NodeOps plain;
    private final WatchDispatcher dispatcher;
    private final AtomicBoolean closed = new AtomicBoolean();

    private LibXenStore(XsConnection conn, String name) {
        this.conn = conn;
        this.plain = new NodeOps(conn, 0);
        this.dispatcher = new WatchDispatcher(conn, "xs-watch-" + name);
        dispatcher.start();
    }

    /** Connects the way dom0 tools do: XENSTORED_PATH, the default socket, then /dev/xen/xenbus. */
    public static LibXenStore connectDefault() {
        return new LibXenStore(XsConnection.open(Optional.empty()), "default");
    }

    /** Connects to the xenstored listening on {@code socket}. */
    public static LibXenStore connect(Path socket) {
        return new LibXenStore(XsConnection.open(Optional.of(socket)), socket.getFileName().toString());
    }

    @Override
    public Optional<String> read(XsPath path) {
        return plain.read(path);
    }

    @Override
    public void write(XsPath path, String value) {
        plain.write(path, value);
    }

    @Override
    public void mkdir(XsPath path) {
        plain.mkdir(path);
    }

    @Override
    public void rm(XsPath path) {
        plain.rm(path);
    }

    @Override
    public List<String> list(XsPath path) {
        return plain.list(path);
    }

    @Override
    public List<XsPermission> permissions(XsPath path) {
        return plain.permissions(path);
    }

    @Override
    public void setPermissions(XsPath path, List<XsPermission> permissions) {
        plain.setPermissions(path, permissions);
    }

    @Override
    public <T> T inTransaction(TransactionBody<T> body) {
        for (int attempt = 1; ; attempt++) {
            int txn = conn.transactionStart();
            T result;
            try {
                result = body.run(new NodeOps(conn, txn));
            } catch (XenErrnoException e) {
                abortQuietly(txn, e);
                // oxenstored may refuse an operation inside a doomed transaction with EAGAIN too.
                if (e.errno() != Errno.EAGAIN || attempt == MAX_TRANSACTION_ATTEMPTS) {
                    throw e;
                }
                continue;
            } catch (RuntimeException | Error e) {
                abortQuietly(txn, e);
                throw e;
            }
            if (conn.transactionEnd(txn, false)) {
                return result;
            }
            if (attempt == MAX_TRANSACTION_ATTEMPTS) {
                throw new TransactionConflictException(attempt);
            }
        }
    }

    private void abortQuietly(int txn, Throwable cause) {
        try {
            conn.transactionEnd(txn, true);
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    @Override
    public Watch watch(XsPath path, WatchHandler handler) {
        String token = dispatcher.register(handler);
        try {
            conn.watch(path.value(), token);
        } catch (RuntimeException e) {
            dispatcher.unregister(token);
            throw e;
        }
        return new RegisteredWatch(path, token);
    }

    @Override
    public Heartbeat watchReader() {
        return dispatcher.heartbeat();
    }

    @Override
    public XsPath domainPath(int domid) {
        return XsPath.of(conn.domainPath(domid));
    }

    @Override
    public boolean isDomainIntroduced(int domid) {
        return conn.isDomainIntroduced(domid);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            dispatcher.stop();
            conn.close();
        }
    }

    @Override
    public String toString() {
        return "LibXenStore[" + conn + "]";
    }

    private final class RegisteredWatch implements Watch {
        private final XsPath path;
        private final String token;
        private final AtomicBoolean open = new AtomicBoolean(true);

        RegisteredWatch(XsPath path, String token) {
            this.path = path;
            this.token = token;
        }

        @Override
        public XsPath path() {
            return path;
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                dispatcher.unregister(token);
                if (!closed.get()) {
                    conn.unwatch(path.value(), token);
                }
            }
        }
    }
}
