package org.vtpmback.test.xenstored;

import static org.vtpmback.test.xenstored.XsWire.HEADER_SIZE;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Raw xenstore client on the daemon's UNIX socket. Socket clients are always dom0 and privileged,
 * so this is the side that introduces / releases guests and sets up nodes and permissions.
 */
public final class PrivilegedSocketConnection extends RawXenstoreConnection {
    private final SocketChannel channel;
    private final Selector selector;
    private final SelectionKey key;
    private byte[] pending = new byte[2 * (HEADER_SIZE + XsWire.PAYLOAD_MAX)];
    private int pendingLen;

    private PrivilegedSocketConnection(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        this.selector = Selector.open();
        this.key = channel.register(selector, 0);
    }

    /** Connects to the daemon's socket (throws if it is not there or nobody listens). */
    public static PrivilegedSocketConnection open(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return new PrivilegedSocketConnection(ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private void await(int op, long deadlineNanos) throws IOException {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            throw new ReceiveTimeoutException("xenstored socket: no " + (op == SelectionKey.OP_READ ? "reply" : "write space") + " in time");
        }
        key.interestOps(op);
        selector.select(Math.max(1, left / 1_000_000));
        selector.selectedKeys().clear();
    }

    @Override
    protected void send(byte[] frame, long deadlineNanos) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(frame);
        while (b.hasRemaining()) {
            if (channel.write(b) == 0) {
                await(SelectionKey.OP_WRITE, deadlineNanos);
            }
        }
    }

    @Override
    protected XsWire.Message receive(long deadlineNanos) throws IOException {
        while (true) {
            XsWire.Message m = parse(pending, pendingLen);
            if (m != null) {
                int used = HEADER_SIZE + m.payload().length;
                System.arraycopy(pending, used, pending, 0, pendingLen - used);
                pendingLen -= used;
                return m;
            }
            if (pendingLen == pending.length) {
                pending = Arrays.copyOf(pending, pending.length * 2);
            }
            int n = channel.read(ByteBuffer.wrap(pending, pendingLen, pending.length - pendingLen));
            if (n < 0) {
                throw new IOException("xenstored closed the connection");
            }
            if (n == 0) {
                await(SelectionKey.OP_READ, deadlineNanos);
            }
            pendingLen += n;
        }
    }

    @Override
    public void close() {
        try {
            selector.close();
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
