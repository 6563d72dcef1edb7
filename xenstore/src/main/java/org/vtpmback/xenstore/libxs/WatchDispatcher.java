package org.vtpmback.xenstore.libxs;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.vtpmback.xen.XsConnection;
import org.vtpmback.xen.XsWatchEvent;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.xenstore.WatchHandler;
import org.vtpmback.xenstore.XsPath;

/**
 * One reader thread per connection: waits on the watch descriptor, drains queued events and hands
 * each to the handler registered under its token. Routing by token (not by parsing paths) keeps two
 * watches on overlapping paths apart, as QEMU's XenWatchList does. An {@link Error} on the reader goes to
 * the thread's uncaught-exception handler at once (the daemon's ends the process).
 */
final class WatchDispatcher implements Runnable {
    private static final System.Logger LOG = System.getLogger(WatchDispatcher.class.getName());
    /** How often the reader re-checks the stop flag while no events arrive. */
    private static final Duration POLL_INTERVAL = Duration.ofMillis(200);

    private final XsConnection conn;
    private final Map<String, WatchHandler> handlers = new ConcurrentHashMap<>();
    private final AtomicLong nextToken = new AtomicLong();
    private final Thread thread;
    private final Heartbeat heartbeat;
    private volatile boolean stopping;

    WatchDispatcher(XsConnection conn, String threadName) {
        this.conn = conn;
        this.thread = new Thread(this, threadName);
        thread.setDaemon(true);
        this.heartbeat = new Heartbeat(thread);
    }

    void start() {
        thread.start();
    }

    /** Reserves a fresh token for {@code handler}; register it with xenstored afterwards. */
    String register(WatchHandler handler) {
        String token = "vtpmback-" + nextToken.incrementAndGet();
        handlers.put(token, handler);
        return token;
    }

    /** Beats on every turn of the reader (at least every {@link #POLL_INTERVAL} while idle). */
    Heartbeat heartbeat() {
        return heartbeat;
    }

    void unregister(String token) {
        handlers.remove(token);
    }

    @Override
    public void run() {
        while (!stopping) {
            heartbeat.beat();
            try {
                if (conn.awaitWatchEvent(POLL_INTERVAL)) {
                    drain();
                }
            } catch (RuntimeException e) {
                if (stopping) {
                    return;
                }
                LOG.log(System.Logger.Level.ERROR, "xenstore watch reader on " + conn + " failed; retrying", e);
                pause();
            } catch (Error e) {
                // Without this reader no watch fires again: the process must end, not this thread alone.
                thread.getUncaughtExceptionHandler().uncaughtException(thread, e); // the daemon's halts (exit 70)
                return;
            }
        }
    }

    private void drain() {
        for (Optional<XsWatchEvent> e = conn.checkWatch(); e.isPresent() && !stopping; e = conn.checkWatch()) {
            dispatch(e.get());
        }
    }

    private void dispatch(XsWatchEvent event) {
        WatchHandler handler = handlers.get(event.token());
        if (handler == null) {
            return; // a stale event of a watch removed meanwhile
        }
        XsPath path;
        try {
            path = XsPath.of(event.path());
        } catch (IllegalArgumentException e) {
            LOG.log(System.Logger.Level.WARNING, "ignoring watch event with odd path " + event);
            return;
        }
        try {
            handler.onEvent(path);
        } catch (RuntimeException e) {
            // One broken handler must not stop the events of every other watch.
            LOG.log(System.Logger.Level.ERROR, "watch handler for " + event + " failed", e);
        }
    }

    /** Stops the reader and waits for it, unless called from the reader itself (a handler closing the store). */
    void stop() {
        stopping = true;
        if (Thread.currentThread() != thread) {
            try {
                thread.join(POLL_INTERVAL.multipliedBy(10).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void pause() {
        try {
            Thread.sleep(POLL_INTERVAL.toMillis()); // avoid spinning on a persistent error
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
