package org.vtpmback.backend.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Iterator;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.service.Heartbeat;

/**
 * The one thread that waits for the answers to commands started with {@link TpmEngine#start}, for every
 * engine of the daemon: their swtpm data sockets share one {@link Selector}, so a command in flight holds no
 * thread and a slow swtpm delays only its own guest's command. It reads each answer, checks its framing,
 * and hands it to the command's {@link Reply} on this thread; a command unanswered at its deadline fails
 * its engine, as {@link TpmEngine#execute} does. Replies share the thread with every guest: they must be
 * short and never block (slow work, such as a checkpoint, goes to the device's executor).
 *
 * <p>A failure of the loop itself (the selector) or an {@link Error} in a reply ends the thread through
 * its uncaught-exception handler: the daemon's ends the process, since without this thread no started
 * command is ever answered. A reply's exception is logged and the loop goes on.
 *
 * <p>Ownership: the daemon owns it and closes it after its devices. Thread-safety: commands may be
 * started from any thread.
 */
public final class ReplyLoop implements AutoCloseable {
    public static final String THREAD_NAME = "vtpm-replies";
    private static final System.Logger LOG = System.getLogger(ReplyLoop.class.getName());
    /** An idle loop turns this often: its heartbeat, and how late a missed deadline may be noticed. */
    private static final long TURN_MILLIS = 200;
    private static final long JOIN_MILLIS = 5_000;

    private final Selector selector;
    private final Thread thread;
    private final Heartbeat heartbeat;
    /** Registered on the loop's own thread, as SimulatedEventChannels does: a new key waits for a wake-up anyway. */
    private final Queue<PendingReply> toRegister = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private long lastDeadlineCheck = System.nanoTime();

    private ReplyLoop(Selector selector) {
        this.selector = selector;
        this.thread = new Thread(this::run, THREAD_NAME);
        thread.setDaemon(true);
        this.heartbeat = new Heartbeat(thread);
    }

    /** Opens the selector and starts the thread. */
    public static ReplyLoop start() {
        ReplyLoop loop;
        try {
            loop = new ReplyLoop(Selector.open());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for swtpm's answers", e);
        }
        loop.thread.start();
        return loop;
    }

    /** The loop thread's heartbeat: without it turning, no started command is answered. */
    public Heartbeat heartbeat() {
        return heartbeat;
    }

    /** Has the loop watch {@code pending}'s channel from its next turn on (once per channel). */
    void register(PendingReply pending) {
        if (closed.get()) {
            throw new IllegalStateException("the swtpm reply loop is closed");
        }
        toRegister.add(pending);
        selector.wakeup();
    }

    /** Makes the loop apply an interest change made from another thread now rather than at its next turn. */
    void wakeup() {
        selector.wakeup();
    }

    private void run() {
        try {
            while (!closed.get()) {
                heartbeat.beat();
                selector.select(TURN_MILLIS);
                registerPending();
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey key = it.next();
                    it.remove();
                    if (key.isValid()) {
                        ((PendingReply) key.attachment()).onReadable();
                    }
                }
                checkDeadlines();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the swtpm reply loop's selector failed", e);
        } finally {
            if (closed.get()) {
                closeSelector();
            }
        }
    }

    private void registerPending() {
        PendingReply pending;
        while ((pending = toRegister.poll()) != null) {
            try {
                pending.registered(pending.channel().register(selector, pending));
            } catch (ClosedChannelException closedMeanwhile) {
                pending.channelClosed(closedMeanwhile);
            }
        }
    }

    /** At most once per turn interval: commands past their deadline fail their engine. */
    private void checkDeadlines() {
        long now = System.nanoTime();
        if (now - lastDeadlineCheck < TimeUnit.MILLISECONDS.toNanos(TURN_MILLIS)) {
            return;
        }
        lastDeadlineCheck = now;
        for (SelectionKey key : selector.keys()) {
            if (key.isValid()) {
                ((PendingReply) key.attachment()).expireIfLate(now);
            }
        }
    }

    /** Stops the thread; commands still in flight are not answered (their devices are gone by then). Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        selector.wakeup();
        if (Thread.currentThread() != thread) {
            try {
                thread.join(JOIN_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!thread.isAlive()) {
            closeSelector();
        }
    }

    private void closeSelector() {
        try {
            selector.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing the swtpm reply selector: {0}", e.toString());
        }
    }
}
