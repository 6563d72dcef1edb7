package org.vtpmback.service;

import java.time.Duration;

/**
 * Proof that a reader thread still turns: the loop calls {@link #beat()} on every turn (it polls with a
 * short timeout, so an idle reader beats too), and the watchdog asks {@link #recent}. A thread that died,
 * or hangs in a handler or a native call, stops beating, which {@link Thread#isAlive()} alone cannot see.
 * Thread-safe.
 */
public final class Heartbeat {
    private final Thread thread;
    private volatile long last = System.nanoTime();

    /** For {@code thread}, which must call {@link #beat()} on every turn of its loop. */
    public Heartbeat(Thread thread) {
        this.thread = thread;
    }

    public void beat() {
        last = System.nanoTime();
    }

    /** Whether the thread is alive and beat within {@code window}. */
    public boolean recent(Duration window) {
        return thread.isAlive() && System.nanoTime() - last <= window.toNanos();
    }

    @Override
    public String toString() {
        return thread.getName() + (thread.isAlive() ? ", last turn " + (System.nanoTime() - last) / 1_000_000 + " ms ago" : ", dead");
    }
}
