package org.vtpmback.backend.engine;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;

/**
 * A connected UNIX stream socket whose reads and writes take a deadline. Java's UNIX
 * {@link SocketChannel} has no {@code SO_TIMEOUT}, so the channel is non-blocking and waits in a
 * private {@link Selector}: a hung swtpm then costs a caller at most the timeout, never the thread.
 * Not thread-safe; owned by one {@link SwtpmCtrl} or {@link SwtpmData}.
 */
final class TimedChannel implements AutoCloseable {
    private final Path path;
    private final SocketChannel channel;
    private final Selector selector;
    private final SelectionKey key;

    private TimedChannel(Path path, SocketChannel channel, Selector selector) throws IOException {
        this.path = path;
        this.channel = channel;
        this.selector = selector;
        channel.configureBlocking(false);
        this.key = channel.register(selector, 0);
    }

    /** Connects (a blocking connect: a listening UNIX socket accepts at once or fails at once). */
    static TimedChannel connect(Path path) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        Selector sel = null;
        try {
            ch.connect(UnixDomainSocketAddress.of(path));
            sel = Selector.open();
            return new TimedChannel(path, ch, sel);
        } catch (IOException | RuntimeException e) {
            ch.close();
            if (sel != null) {
                sel.close();
            }
            throw e;
        }
    }

    /**
     * Writes {@code buf} with exactly one {@code write(2)}. swtpm takes one {@code read()} as a whole
     * data command (swtpm.md trap 1), so a partial write would corrupt the stream: it is an error.
     */
    void writeOnce(ByteBuffer buf) throws IOException {
        int want = buf.remaining();
        int n = channel.write(buf);
        if (n != want) {
            throw new IOException("short write to " + path + ": " + n + " of " + want + " bytes");
        }
    }

    /** Writes all of {@code buf}, waiting for buffer space until {@code deadline} ({@link System#nanoTime}). */
    void writeFully(ByteBuffer buf, long deadline) throws IOException {
        while (buf.hasRemaining()) {
            if (channel.write(buf) == 0) {
                await(SelectionKey.OP_WRITE, deadline);
            }
        }
    }

    /** Fills {@code buf} completely before {@code deadline}; EOF or the deadline is an {@link IOException}. */
    void readFully(ByteBuffer buf, long deadline) throws IOException {
        while (buf.hasRemaining()) {
            int n = channel.read(buf);
            if (n < 0) {
                throw new EOFException("swtpm closed " + path);
            }
            if (n == 0) {
                await(SelectionKey.OP_READ, deadline);
            }
        }
    }

    /** One non-blocking read: the bytes read, 0 if none are queued, -1 at end of stream. */
    int read(ByteBuffer buf) throws IOException {
        return channel.read(buf);
    }

    /**
     * Adds the channel to a shared selector too (the {@link ReplyLoop}'s), watched for reading: a channel
     * may sit in several selectors, and this one's private selector stays for the blocking calls.
     */
    SelectionKey register(Selector shared, Object attachment) throws ClosedChannelException {
        return channel.register(shared, SelectionKey.OP_READ, attachment);
    }

    /** Reads and discards whatever is already queued, without waiting. */
    int drainAvailable() throws IOException {
        ByteBuffer scratch = ByteBuffer.allocate(512);
        int total = 0;
        int n;
        while ((n = channel.read(scratch.clear())) > 0) {
            total += n;
        }
        return total;
    }

    private void await(int ops, long deadline) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new SocketTimeoutException("no answer from swtpm on " + path + " before the deadline");
        }
        if (Thread.interrupted()) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for " + path);
        }
        try {
            key.interestOps(ops);
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            selector.selectedKeys().clear();
            key.interestOps(0);
        } catch (ClosedSelectorException | CancelledKeyException e) {
            // close() from another thread (engine shutdown) while we waited: report it as I/O
            ClosedChannelException closed = new ClosedChannelException();
            closed.initCause(e);
            throw closed;
        }
    }

    /** The peer's user at the time it listened ({@code SO_PEERCRED}; a UNIX socket cannot lie about it). */
    UserPrincipal peerUser() throws IOException {
        return channel.getOption(ExtendedSocketOptions.SO_PEERCRED).user();
    }

    static long deadline(Duration timeout) {
        return System.nanoTime() + timeout.toNanos();
    }

    @Override
    public String toString() {
        return path.toString();
    }

    @Override
    public void close() {
        try {
            selector.close();
        } catch (IOException ignored) {
            // nothing to release beyond the fd, which close() gave back anyway
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // same: the descriptor is released even when close reports an error
        }
    }
}
