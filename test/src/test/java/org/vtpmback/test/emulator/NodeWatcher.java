package org.vtpmback.test.emulator;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * Watches one xenstore node, usually a xenbus {@code state} node: records the value read at every
 * watch event (xenstored fires once per write, plus once when the watch is set) and lets a test
 * wait, woken by those events, for a state (no polling, no sleeps). Thread-safe; the owner closes it.
 */
public final class NodeWatcher implements AutoCloseable {
    private final XenStore xs;
    private final XsPath node;
    private final List<String> seen = new ArrayList<>(); // guarded by this
    private final Watch watch;

    public NodeWatcher(XenStore xs, XsPath node) {
        this.xs = xs;
        this.node = node;
        this.watch = xs.watch(node, p -> changed());
    }

    private void changed() {
        String value = xs.read(node).orElse("<absent>");
        synchronized (this) {
            seen.add(value);
            notifyAll();
        }
    }

    /** The node's value now, as xenstore has it. */
    public Optional<String> value() {
        return xs.read(node);
    }

    /** Every value read at a watch event so far, the initial one included. */
    public synchronized List<String> seen() {
        return List.copyOf(seen);
    }

    /** Waits until at least {@code n} events arrived. */
    public synchronized boolean awaitEvents(int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (seen.size() < n) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return true;
    }

    /**
     * Waits until the node reads {@code wanted} (missing or garbage reads as UNKNOWN, as Linux's
     * xenbus_read_driver_state does); false on timeout. Watches are level-triggered and merge
     * events, so every wakeup re-reads the node; the event count taken before each read closes the
     * gap between reading and waiting.
     */
    public boolean await(XenbusState wanted, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int events;
            synchronized (this) {
                events = seen.size();
            }
            if (value().flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN) == wanted) {
                return true;
            }
            synchronized (this) {
                while (seen.size() == events) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    wait(Math.max(1, left / 1_000_000));
                }
            }
        }
    }

    @Override
    public void close() {
        watch.close();
    }
}
