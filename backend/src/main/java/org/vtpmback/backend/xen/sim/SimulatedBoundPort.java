package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.vtpmback.backend.xen.BoundPort;

/**
 * A port bound by {@link SimulatedEventChannels}: one connection to the frontend's port socket.
 * Thread-safety: any thread; {@link #onReadable} runs only on the reader thread.
 */
final class SimulatedBoundPort implements BoundPort {
    private static final System.Logger LOG = System.getLogger(SimulatedBoundPort.class.getName());

    private final SimulatedEventChannels owner;
    private final int localPort;
    private final String name;
    private final SocketChannel channel;
    private final Consumer<BoundPort> onEvent;
    private final AtomicBoolean closed = new AtomicBoolean();

    SimulatedBoundPort(SimulatedEventChannels owner, int localPort, int remoteDomid, int remotePort,
            SocketChannel channel, Consumer<BoundPort> onEvent) {
        this.owner = owner;
        this.localPort = localPort;
        this.name = "port " + localPort + " (domain " + remoteDomid + " port " + Integer.toUnsignedString(remotePort) + ")";
        this.channel = channel;
        this.onEvent = onEvent;
    }

    SocketChannel channel() {
        return channel;
    }

    @Override
    public int localPort() {
        return localPort;
    }

    @Override
    public void notifyRemote() {
        if (closed.get()) {
            throw new IllegalStateException(name + " is unbound");
        }
        PortWire.sendNotify(channel); // false: the frontend closed its port; Xen drops this silently
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            PortWire.shutdownAndClose(channel);
            owner.unbound(this);
        }
    }

    /**
     * Delivers one event for everything that arrived (several notifications merge, as a pending
     * bit does). The key's interest is cleared while the handler runs and restored afterwards: the
     * simulation's version of Xen masking the port on delivery and xenevtchn_unmask re-arming it.
     */
    void onReadable(SelectionKey key, java.nio.ByteBuffer scratch) {
        int received;
        try {
            received = PortWire.drain(channel, scratch);
        } catch (IOException e) {
            received = -1;
        }
        if (received < 0) {
            // The frontend closed its port. Xen sends no event for that; our port just goes dead,
            // later notifyRemote() calls are dropped and the owner still has to close() it.
            key.cancel();
            PortWire.closeQuietly(channel);
            return;
        }
        if (received == 0) {
            return;
        }
        key.interestOps(0);
        try {
            onEvent.accept(this);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "event handler of " + name + " failed", e);
        } finally {
            try {
                key.interestOps(SelectionKey.OP_READ);
            } catch (CancelledKeyException unboundByHandler) {
                // the handler closed the port: nothing to re-arm
            }
        }
    }

    @Override
    public String toString() {
        return "SimulatedBoundPort[" + name + (closed.get() ? ", unbound]" : "]");
    }
}
