package org.vtpmback.etcd;

/**
 * When a host must consider its lease lost: {@code send + ttl - margin} of the last keep-alive (or grant)
 * that etcd acknowledged, on the monotonic {@link System#nanoTime} clock (wall-clock steps must not move
 * it). Only a later-sent acknowledgement moves it, so an answer that arrives out of order cannot extend
 * it. Thread-safe.
 */
final class FenceDeadline {
    private final long marginNanos;
    private long lastSent;
    private long deadline;

    FenceDeadline(long sentNanos, long ttlSeconds, long marginNanos) {
        this.marginNanos = marginNanos;
        this.lastSent = sentNanos;
        this.deadline = at(sentNanos, ttlSeconds);
    }

    /** A request sent at {@code sentNanos} renewed the lease for {@code ttlSeconds} (as etcd answered). */
    synchronized void renewed(long sentNanos, long ttlSeconds) {
        if (sentNanos - lastSent > 0) {
            lastSent = sentNanos;
            // Not max(old, new): etcd's expiry is now (receive time + the TTL it answered), which a
            // shorter answered TTL could put before the old deadline.
            deadline = at(sentNanos, ttlSeconds);
        }
    }

    private long at(long sentNanos, long ttlSeconds) {
        return sentNanos + ttlSeconds * 1_000_000_000L - marginNanos;
    }

    /** Nanoseconds until the deadline at {@code now}; zero or less: passed. */
    synchronized long remaining(long now) {
        return deadline - now;
    }
}
