package org.vtpmback.backend.engine;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.util.function.Consumer;

/**
 * One swtpm data channel as the {@link ReplyLoop} sees it: the command in flight on it (at most one, as
 * tpmif and swtpm's one-command-per-read rule both require), its deadline, the buffer its answer is read
 * into and the {@link Reply} to tell.
 *
 * <p>States: IDLE (watched, nothing in flight), PAUSED (not watched: the channel's answers belong to a
 * blocking {@link TpmEngine#execute}, which reads them itself, so the loop must neither read them nor spin
 * on them), BUSY (a started command awaits its answer), BROKEN (failed or timed out; never read again, the
 * engine is dead). Transitions and interest changes happen under this object's lock, so a pause decided by
 * the loop can never undo the re-arming of a command started meanwhile.
 *
 * <p>Thread-safety: {@link #start} on the thread that holds the device's turn (one command at a time); the
 * rest on the loop's thread. The starter writes the command's fields before the state, under the lock; the
 * loop reads the state under the lock before the fields.
 */
final class PendingReply {
    private static final System.Logger LOG = System.getLogger(PendingReply.class.getName());
    private static final int HEADER_SIZE = SwtpmData.HEADER_SIZE;

    private enum State { IDLE, PAUSED, BUSY, BROKEN }

    private final TimedChannel channel;
    private final ReplyLoop loop;
    private final Consumer<IOException> onBroken;
    private final long timeoutNanos;
    /** Big-endian, as TPM packets are; reused for every answer. */
    private final ByteBuffer answer = ByteBuffer.allocateDirect(SwtpmData.MAX_RESPONSE);
    private State state = State.IDLE;
    private SelectionKey key;
    private Reply reply;
    private long deadline;

    /**
     * @param onBroken how the engine learns that its stream failed (it marks itself dead); on the loop's thread
     */
    PendingReply(TimedChannel channel, ReplyLoop loop, java.time.Duration timeout, Consumer<IOException> onBroken) {
        this.channel = channel;
        this.loop = loop;
        this.timeoutNanos = timeout.toNanos();
        this.onBroken = onBroken;
        loop.register(this);
    }

    TimedChannel channel() {
        return channel;
    }

    ReplyLoop loop() {
        return loop;
    }

    /**
     * Sends {@code command} (one write, as swtpm takes one read as one command) with the answer going to
     * {@code to}. False if the channel failed earlier (the engine is dead).
     *
     * @throws IOException if the write fails or is short: the stream is out of step, nothing will be answered
     */
    boolean start(ByteBuffer command, Reply to) throws IOException {
        boolean rearm;
        synchronized (this) {
            if (state == State.BROKEN) {
                return false;
            }
            rearm = state == State.PAUSED && key != null;
            if (rearm) {
                key.interestOps(SelectionKey.OP_READ);
            }
            answer.clear();
            reply = to;
            deadline = System.nanoTime() + timeoutNanos;
            state = State.BUSY;
        }
        if (rearm) {
            loop.wakeup(); // the loop applies the interest at its next select, which may be 200 ms away
        }
        try {
            channel.writeOnce(command);
        } catch (IOException e) {
            synchronized (this) {
                state = State.BROKEN;
                reply = null;
            }
            throw e;
        }
        return true;
    }

    /** On the loop's thread, once its selector holds the channel. */
    synchronized void registered(SelectionKey registeredKey) {
        this.key = registeredKey;
        if (state == State.PAUSED) {
            key.interestOps(0);
        }
    }

    /** On the loop's thread: the channel was closed (the engine closed) before the loop could watch it. */
    void channelClosed(IOException why) {
        fail(why);
    }

    /** On the loop's thread, when the socket is readable. */
    void onReadable() {
        synchronized (this) {
            if (state == State.IDLE) {
                // A blocking execute() is using the channel: its answer is not ours to read.
                state = State.PAUSED;
                key.interestOps(0);
                return;
            }
            if (state != State.BUSY) {
                return;
            }
        }
        ByteBuffer complete;
        try {
            complete = readAnswer();
        } catch (IOException e) {
            fail(e);
            return;
        }
        if (complete != null) {
            Reply to;
            synchronized (this) {
                to = reply;
                reply = null;
                state = State.IDLE; // before the reply: it may end the turn, and the next command start at once
            }
            deliver(to, complete);
        }
    }

    /** The complete answer (flipped), or null while it is still incomplete. */
    private ByteBuffer readAnswer() throws IOException {
        if (channel.read(answer) < 0) {
            throw new EOFException("swtpm closed " + channel);
        }
        if (answer.position() < HEADER_SIZE) {
            return null;
        }
        int size = answer.getInt(2);
        if (size < HEADER_SIZE || size > SwtpmData.MAX_RESPONSE) {
            throw new IOException("swtpm response size " + size + " outside " + HEADER_SIZE + ".." + SwtpmData.MAX_RESPONSE);
        }
        if (answer.position() < size) {
            return null;
        }
        if (answer.position() > size) {
            // One answer per command: more bytes mean the stream is out of step (swtpm.md trap 1).
            throw new IOException("swtpm sent " + (answer.position() - size) + " bytes beyond its " + size + "-byte answer");
        }
        return answer.flip();
    }

    /** On the loop's thread: fails a command past its deadline, as execute() does after the response timeout. */
    void expireIfLate(long now) {
        synchronized (this) {
            if (state != State.BUSY || now - deadline < 0) {
                return;
            }
        }
        fail(new SocketTimeoutException("no answer from swtpm on " + channel + " before the deadline"));
    }

    private void fail(IOException why) {
        Reply to;
        synchronized (this) {
            if (state == State.BROKEN) {
                return;
            }
            to = state == State.BUSY ? reply : null;
            reply = null;
            state = State.BROKEN;
            if (key != null) {
                key.cancel();
            }
        }
        onBroken.accept(why);
        if (to != null) {
            deliver(to, null);
        }
    }

    private static void deliver(Reply to, ByteBuffer complete) {
        try {
            to.received(complete);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "a reply to a swtpm command failed", e);
        }
    }
}
