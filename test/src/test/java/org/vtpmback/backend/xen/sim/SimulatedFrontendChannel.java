package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The guest's end of one simulated event channel, for frontend emulators (any process). It
 * allocates an unbound port for a backend domain ({@code xenbus_alloc_evtchn}); the backend binds
 * it through {@link SimulatedEventChannels}. Like Xen, a notification while unbound is lost, and
 * when the backend unbinds the port reverts to unbound and can be bound again.
 *
 * <p>One daemon thread per channel accepts binds and reads notifications; that is fine for an
 * emulator. Ownership: the creator closes it, which frees the port. Thread-safety: all methods may be
 * called from any thread.
 */
public final class SimulatedFrontendChannel implements AutoCloseable {
    private static final int MAX_PORT = 4096;

    private final int domid;
    private final int port;
    private final int backendDomid;
    private final Path socket;
    private final ServerSocketChannel server;
    private final Selector selector;
    private final Thread thread;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private SocketChannel connection; // guarded by lock; null while unbound
    private boolean pending;          // guarded by lock; merged notifications, like a pending bit
    private volatile boolean closed;

    private SimulatedFrontendChannel(int domid, int port, int backendDomid, Path socket, ServerSocketChannel server)
            throws IOException {
        this.domid = domid;
        this.port = port;
        this.backendDomid = backendDomid;
        this.socket = socket;
        this.server = server;
        this.selector = Selector.open();
        server.configureBlocking(false);
        server.register(selector, SelectionKey.OP_ACCEPT);
        this.thread = new Thread(this::run, "sim-fe-evtchn-d" + domid + "-p" + port);
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Allocates the lowest free port of {@code domid} for {@code backendDomid} to bind. Ports are
     * unique across processes because binding the socket file fails if it exists. A socket file left
     * by a crashed process keeps its number taken until the folder is cleaned.
     */
    public static SimulatedFrontendChannel allocateUnbound(SimulationDirectory directory, int domid, int backendDomid) {
        try {
            Files.createDirectories(directory.portsOf(domid));
            for (int port = 1; port < MAX_PORT; port++) {
                Path socket = directory.port(domid, port);
                ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    server.bind(UnixDomainSocketAddress.of(socket));
                } catch (BindException taken) {
                    server.close();
                    continue;
                }
                return new SimulatedFrontendChannel(domid, port, backendDomid, socket, server);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot allocate an event channel port for domain " + domid, e);
        }
        throw new IllegalStateException("no free event channel port for domain " + domid);
    }

    /** The allocating (guest) domain. */
    public int domid() {
        return domid;
    }

    /** The port number to publish, e.g. as xenstore {@code event-channel}. */
    public int port() {
        return port;
    }

    public boolean isBound() {
        return currentConnection() != null;
    }

    /** Waits until a backend has bound (true) or the timeout passed (false). */
    public boolean awaitBound(Duration timeout) throws InterruptedException {
        return awaitBinding(true, timeout);
    }

    /** Waits until the port is unbound again (true) or the timeout passed (false). */
    public boolean awaitUnbound(Duration timeout) throws InterruptedException {
        return awaitBinding(false, timeout);
    }

    /**
     * Notifies the backend. Returns whether it went to a bound backend; false means it was dropped
     * because the port is unbound. (Real Xen reports success either way; the result exists so tests
     * can tell a lost notification from a slow one.)
     */
    public boolean notifyBackend() {
        lock.lock();
        try {
            return connection != null && PortWire.sendNotify(connection);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits for a notification from the backend and consumes it. Notifications that arrived since
     * the last call are merged into one. Returns false on timeout.
     */
    public boolean awaitNotification(Duration timeout) throws InterruptedException {
        long nanos = timeout.toNanos();
        lock.lock();
        try {
            while (!pending) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = changed.awaitNanos(nanos);
            }
            pending = false;
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Closes the port (the backend sees its peer go away) and frees its number. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        selector.wakeup();
        try {
            thread.join(PortWire.BIND_TIMEOUT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        setConnection(null);
        PortWire.closeQuietly(server);
        PortWire.closeQuietly(selector);
        try {
            Files.deleteIfExists(socket); // a UNIX socket file outlives its channel
        } catch (IOException ignored) {
            // the number stays taken; harmless for a simulation
        }
    }

    private boolean awaitBinding(boolean wanted, Duration timeout) throws InterruptedException {
        long nanos = timeout.toNanos();
        lock.lock();
        try {
            while ((connection != null) != wanted) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = changed.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void run() {
        try {
            while (!closed) {
                selector.select();
                for (SelectionKey key : selector.selectedKeys()) {
                    if (key.isValid() && key.isAcceptable()) {
                        accept();
                    } else if (key.isValid() && key.isReadable()) {
                        readFrom((SocketChannel) key.channel(), key);
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            if (!closed) {
                throw new UncheckedIOException("simulated frontend port " + port + " of domain " + domid + " failed", e);
            }
        }
    }

    private void accept() throws IOException {
        SocketChannel candidate = server.accept();
        if (candidate == null) {
            return;
        }
        // Blocking read of the 4-byte hello: the backend sends it right after connecting.
        ByteBuffer hello = ByteBuffer.allocate(4);
        while (hello.hasRemaining()) {
            if (candidate.read(hello) < 0) {
                PortWire.closeQuietly(candidate);
                return;
            }
        }
        byte reply;
        if (hello.getInt(0) != backendDomid) {
            reply = PortWire.WRONG_DOMAIN;
        } else if (stillBound()) {
            reply = PortWire.ALREADY_BOUND;
        } else {
            reply = PortWire.BOUND;
            candidate.configureBlocking(false);
            candidate.register(selector, SelectionKey.OP_READ);
            setConnection(candidate); // before the reply: once bind() returns, notifications must go through
        }
        candidate.write(ByteBuffer.wrap(new byte[] {reply}));
        if (reply != PortWire.BOUND) {
            PortWire.closeQuietly(candidate);
        }
    }

    /**
     * Whether the current binding is alive. An unbind followed at once by a new bind can reach us
     * with the accept seen before the old connection's end-of-stream, so look at the old one first.
     */
    private boolean stillBound() {
        SocketChannel current = currentConnection();
        return current != null && readFrom(current, null);
    }

    private SocketChannel currentConnection() {
        lock.lock();
        try {
            return connection;
        } finally {
            lock.unlock();
        }
    }

    /** Reads notifications; on end-of-stream the port reverts to unbound. Returns whether still bound. */
    private boolean readFrom(SocketChannel channel, SelectionKey key) {
        int received;
        try {
            received = PortWire.drain(channel);
        } catch (IOException e) {
            received = -1;
        }
        lock.lock();
        try {
            if (received < 0) {
                if (key != null) {
                    key.cancel();
                }
                if (connection == channel) {
                    setConnection(null);
                } else {
                    PortWire.closeQuietly(channel);
                }
                return false;
            }
            if (received > 0) {
                pending = true;
                changed.signalAll();
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void setConnection(SocketChannel next) {
        lock.lock();
        try {
            if (connection != null && connection != next) {
                PortWire.shutdownAndClose(connection);
            }
            connection = next;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "SimulatedFrontendChannel[domain " + domid + " port " + port + (isBound() ? ", bound]" : ", unbound]");
    }
}
