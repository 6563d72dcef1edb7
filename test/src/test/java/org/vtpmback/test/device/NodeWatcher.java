package org.vtpmback.test.device;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * Watches one xenstore node: records the value read at every watch event (xenstored fires once per
 * write, plus once when the watch is set) and lets a test wait, woken by those events, for a value.
 * Thread-safe; the owner closes it.
 */
final class NodeWatcher implements AutoCloseable {
    private final XenStore xs;
    private final XsPath node;
    private final List<String> seen = new ArrayList<>(); // guarded by this
    private final Watch watch;

    NodeWatcher(XenStore xs, XsPath node) {
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

    Optional<String> value() {
        return xs.read(node);
    }

    /** Every value read at a watch event so far, the initial one included. */
    synchronized List<String> seen() {
        return List.copyOf(seen);
    }

    /** Waits until at least {@code n} events arrived. */
    synchronized boolean awaitEvents(int n, Duration timeout) throws InterruptedException {
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

    /** Waits until the node reads {@code wanted}; re-reads at every event. */
    boolean await(XenbusState wanted, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int events;
            synchronized (this) {
                events = seen.size();
            }
            if (value().equals(Optional.of(wanted.wire()))) {
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
