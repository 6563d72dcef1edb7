package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;

/**
 * swtpm's data channel ({@code --server type=unixio}): raw TPM commands and responses. swtpm takes
 * one {@code read()} as one whole command (trap 1), so each command goes out in a single write and
 * only one is ever outstanding; the response is framed by its header's size field.
 * Not thread-safe: confined to the engine's device executor.
 */
final class SwtpmData implements AutoCloseable {
    /** TPM header: tag u16, size u32, code u32. */
    static final int HEADER_SIZE = org.vtpmback.backend.ring.TpmResponses.HEADER_SIZE;
    /** libtpms never answers more than its 4096-byte maximum buffer. */
    static final int MAX_RESPONSE = 4096;

    private final TimedChannel channel;
    private final Duration timeout;
    /** The channel as the reply loop sees it, from the first {@link #start} on. */
    private PendingReply pending;

    private SwtpmData(TimedChannel channel, Duration timeout) {
        this.channel = channel;
        this.timeout = timeout;
    }

    static SwtpmData connect(Path socket, Duration timeout) throws IOException {
        return new SwtpmData(TimedChannel.connect(socket), timeout);
    }

    /**
     * Sends one command and returns its complete response. Any failure (EOF, timeout, a size outside
     * 10..4096) is an {@link IOException}, after which the stream is out of step and unusable.
     */
    byte[] transact(byte[] command) throws IOException {
        long deadline = TimedChannel.deadline(timeout);
        channel.writeOnce(ByteBuffer.wrap(command));
        ByteBuffer header = ByteBuffer.allocate(HEADER_SIZE);
        channel.readFully(header, deadline);
        int size = header.getInt(2);
        if (size < HEADER_SIZE || size > MAX_RESPONSE) {
            throw new IOException("swtpm response size " + size + " outside " + HEADER_SIZE + ".." + MAX_RESPONSE);
        }
        ByteBuffer response = ByteBuffer.allocate(size).put(header.flip());
        channel.readFully(response, deadline);
        return response.array();
    }

    /**
     * Sends one command and returns at once; the answer goes to {@code reply} on {@code loop}'s thread, with the
     * same framing checks and deadline as {@link #transact}. False if an earlier started command broke the stream.
     *
     * @throws IOException if the command could not be sent whole: the stream is unusable
     */
    boolean start(ReplyLoop loop, ByteBuffer command, Reply reply, java.util.function.Consumer<IOException> onBroken)
            throws IOException {
        if (pending == null) {
            pending = new PendingReply(channel, loop, timeout, onBroken);
        } else if (pending.loop() != loop) {
            throw new IllegalArgumentException("the channel to " + channel + " already answers on another reply loop");
        }
        return pending.start(command, reply);
    }

    @Override
    public void close() {
        channel.close();
    }
}
