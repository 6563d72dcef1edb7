package org.vtpmback.test.emulator;

import java.time.Duration;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * Waits for a state node to reach a value, woken by a xenstore watch on it (no polling, no sleeps).
 * Watches are level-triggered, so every wakeup re-reads the node; a generation counter closes the
 * gap between reading and waiting. Thread-safe; the owner closes it.
 */
final class StateWaiter implements AutoCloseable {
    private final XenStore xs;
    private final XsPath stateNode;
    private final Watch watch;
    private long generation; // guarded by this

    StateWaiter(XenStore xs, XsPath stateNode) {
        this.xs = xs;
        this.stateNode = stateNode;
        this.watch = xs.watch(stateNode, p -> changed());
    }

    private synchronized void changed() {
        generation++;
        notifyAll();
    }

    boolean await(XenbusState wanted, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long seen;
            synchronized (this) {
                seen = generation;
            }
            XenbusState now = xs.read(stateNode).flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
            if (now == wanted) {
                return true;
            }
            synchronized (this) {
                while (generation == seen) {
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
