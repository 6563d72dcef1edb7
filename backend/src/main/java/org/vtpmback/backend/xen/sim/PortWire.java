package org.vtpmback.backend.xen.sim;

import java.io.Closeable;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.vtpmback.xen.XenException;

/**
 * The wire protocol of a simulated event channel.
 *
 * <p>Why UNIX stream sockets (and not FIFOs): a bound interdomain channel is exactly one connection.
 * The frontend's unbound port is a listening socket at {@code ports/<domid>/<port>}; binding is
 * connecting to it; a notification is one byte on the connection, in either direction. That gives
 * Xen's semantics for free: with no connection there is nowhere to put a notification, so one sent
 * before the bind is lost rather than queued (a FIFO would buffer it in the kernel, and opening one
 * without a reader blocks or fails); closing either end is seen by the other as end-of-stream, so the
 * frontend's port reverts to unbound and can be bound again; and all connections of the daemon fit in
 * one {@link Selector} on one thread that blocks while idle. Java NIO has no UNIX datagram sockets.
 *
 * <p>Bind handshake: the backend connects and sends its domid (u32, big-endian); the frontend answers
 * one byte, {@link #BOUND}, {@link #ALREADY_BOUND} or {@link #WRONG_DOMAIN} (Xen's
 * bind_interdomain checks that the port is unbound and was allocated for the caller's domain).
 */
final class PortWire {
    static final byte NOTIFY = 1;
    static final byte BOUND = 'A';
    static final byte ALREADY_BOUND = 'B';
    static final byte WRONG_DOMAIN = 'D';
    static final long BIND_TIMEOUT_MILLIS = 5_000;

    private PortWire() {
    }

    /** Connects to the frontend's unbound port and completes the handshake; returns a non-blocking channel. */
    static SocketChannel bindAsBackend(SimulationDirectory directory, int remoteDomid, int remotePort, int ownDomid) {
        Path socket = directory.port(remoteDomid, remotePort);
        String what = "bind_interdomain(domain " + remoteDomid + ", port " + Integer.toUnsignedString(remotePort) + ")";
        if (!Files.exists(socket)) {
            throw new XenException(what + " failed: the port was never allocated (no " + socket + ")");
        }
        SocketChannel channel = null;
        boolean bound = false;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer hello = ByteBuffer.allocate(4).putInt(0, ownDomid);
            while (hello.hasRemaining()) {
                channel.write(hello);
            }
            channel.configureBlocking(false);
            byte reply = awaitReply(channel, what);
            switch (reply) {
                case BOUND -> bound = true;
                case ALREADY_BOUND -> throw new XenException(what + " failed: the port is already bound");
                case WRONG_DOMAIN -> throw new XenException(what + " failed: the port was allocated for"
                        + " another domain, not domain " + ownDomid);
                default -> throw new XenException(what + " failed: unexpected handshake reply " + reply);
            }
            return channel;
        } catch (ConnectException e) {
            throw new XenException(what + " failed: the port is not allocated (nobody listens on " + socket + ")", e);
        } catch (IOException e) {
            throw new XenException(what + " failed: " + e.getMessage(), e);
        } finally {
            if (!bound) {
                closeQuietly(channel);
            }
        }
    }

    private static byte awaitReply(SocketChannel channel, String what) throws IOException {
        // A private selector gives the read a timeout; UNIX SocketChannels have no socket() adaptor.
        try (Selector selector = Selector.open()) {
            channel.register(selector, SelectionKey.OP_READ);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BIND_TIMEOUT_MILLIS);
            ByteBuffer reply = ByteBuffer.allocate(1); // exactly one byte: notifications may follow it
            while (true) {
                int n = channel.read(reply);
                if (n > 0) {
                    return reply.get(0);
                }
                if (n < 0) {
                    throw new XenException(what + " failed: the frontend closed the connection");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new XenException(what + " failed: no answer from the frontend within "
                            + BIND_TIMEOUT_MILLIS + " ms");
                }
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        } // closing the selector deregisters the channel so it can join the shared selector
    }

    /**
     * Sends one notification without blocking. Returns false if the peer is gone (dropped, as Xen
     * drops sends to a closed peer). A full socket buffer counts as delivered: the peer has plenty
     * of notifications pending, and Xen merges pending notifications too.
     */
    static boolean sendNotify(SocketChannel channel) {
        try {
            channel.write(ByteBuffer.wrap(new byte[] {NOTIFY}));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Reads everything available. Returns the number of bytes read, 0 if none, -1 at end-of-stream.
     */
    static int drain(SocketChannel channel) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(64);
        int total = 0;
        while (true) {
            buffer.clear();
            int n = channel.read(buffer);
            if (n < 0) {
                return -1;
            }
            if (n == 0) {
                return total;
            }
            total += n;
        }
    }

    /**
     * {@link #drain(SocketChannel)} into the caller's reusable buffer, stopping at the first short read (a
     * stream socket's read returns less than asked only when its queue is empty): usually one read(2).
     * Returns the bytes read, 0 if none, -1 at end-of-stream.
     */
    static int drain(SocketChannel channel, ByteBuffer scratch) throws IOException {
        int total = 0;
        while (true) {
            scratch.clear();
            int n = channel.read(scratch);
            if (n < 0) {
                return total > 0 ? total : -1; // the end shows again on the next read
            }
            total += n;
            if (n < scratch.capacity()) {
                return total;
            }
        }
    }

    /**
     * Shuts the connection down before closing it: a channel registered with a selector may defer
     * the real close until the selector's next round, but the peer must see end-of-stream (unbind)
     * at once.
     */
    static void shutdownAndClose(SocketChannel channel) {
        try {
            channel.shutdownOutput();
            channel.shutdownInput();
        } catch (IOException alreadyGone) {
            // not connected any more: nothing to tell the peer
        }
        closeQuietly(channel);
    }

    static void closeQuietly(Closeable closeable) {
        if (closeable == null) {
            return;
        }
        try {
            closeable.close();
        } catch (IOException ignored) {
            // closing a socket we are abandoning; nothing useful to do with the error
        }
    }
}
