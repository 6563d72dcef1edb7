package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Counts the costly things a guest makes a device do again (handshake restarts, engine restarts) and
 * says how long to wait before the next one and when to give up: the k-th strike must wait
 * {@code firstBackoff * 2^(k-2)} (capped) after the one before it, the first is free, and the
 * {@code limit}-th fails the device. A guest that behaves for {@code forgiveAfter} has one strike
 * forgiven, so rare legitimate restarts (a kexec, a reloaded driver, one swtpm crash) never add up.
 *
 * <p>Not thread-safe: confined to the device's executor.
 */
final class Strikes {
    private final int limit;
    private final long firstBackoffNanos;
    private final long maxBackoffNanos;
    private final long forgiveAfterNanos;
    private final LongSupplier clock;
    private int count;
    private long lastStrike;

    /**
     * @param limit        the strike that fails the device (at least 1)
     * @param firstBackoff the wait before the second strike's action
     * @param maxBackoff   the cap of the doubling waits
     * @param forgiveAfter one strike is forgiven per this much time without one
     * @param clock        nanoTime-like monotonic clock
     */
    Strikes(int limit, Duration firstBackoff, Duration maxBackoff, Duration forgiveAfter, LongSupplier clock) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit " + limit);
        }
        this.limit = limit;
        this.firstBackoffNanos = firstBackoff.toNanos();
        this.maxBackoffNanos = maxBackoff.toNanos();
        this.forgiveAfterNanos = forgiveAfter.toNanos();
        this.clock = clock;
    }

    Strikes(int limit, Duration firstBackoff, Duration maxBackoff, Duration forgiveAfter) {
        this(limit, firstBackoff, maxBackoff, forgiveAfter, System::nanoTime);
    }

    /** How long the next action must still wait; zero when it may happen now. */
    Duration backoffLeft() {
        forgive();
        if (count == 0) {
            return Duration.ZERO;
        }
        long left = lastStrike + backoffAfter(count) - clock.getAsLong();
        return left > 0 ? Duration.ofNanos(left) : Duration.ZERO;
    }

    /**
     * Records one strike now (call it when the action happens, after {@link #backoffLeft()} said zero).
     *
     * @return false if this strike reached the limit: the device must be failed instead of acting
     */
    boolean strike() {
        forgive();
        count++;
        lastStrike = clock.getAsLong();
        return count < limit;
    }

    /** Strikes currently counted (after forgiveness). */
    int count() {
        forgive();
        return count;
    }

    int limit() {
        return limit;
    }

    private long backoffAfter(int strikes) {
        int doublings = Math.min(strikes - 1, 40);
        long wait = firstBackoffNanos << doublings;
        return wait < 0 || wait > maxBackoffNanos ? maxBackoffNanos : wait;
    }

    private void forgive() {
        if (count == 0 || forgiveAfterNanos <= 0) {
            return;
        }
        long now = clock.getAsLong();
        long quiet = now - lastStrike;
        long forgiven = quiet / forgiveAfterNanos;
        if (forgiven > 0) {
            count = (int) Math.max(0, count - forgiven);
            lastStrike += forgiven * forgiveAfterNanos; // the next forgiveness counts from here
        }
    }
}
