package org.vtpmback.hotplug.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A token bucket per key (logger, level and device): {@link #burst} lines at once, then {@link #perSecond}
 * a second. Lines over the budget are counted, not written; {@link #sweep} hands out the counts for the
 * "N similar lines suppressed" summaries. A guest that floods the log thus costs its own key's budget, never
 * another device's. Keys idle at a full bucket are forgotten at the sweep, and at most {@link #MAX_KEYS}
 * are kept, so the table stays bounded whatever the names.
 *
 * <p>Thread-safety: all methods synchronize on this object (a few arithmetic operations per line).
 */
final class LogRateLimiter {
    static final int MAX_KEYS = 4096;

    private final int burst;
    private final double perSecond;
    private final Map<Key, Bucket> buckets = new HashMap<>();

    /** What one line is keyed by: its logger, its level name and its device (or thread) tag. */
    record Key(String logger, String level, String tag) {
    }

    /** {@code count} lines of {@code key} left out since the last sweep. */
    record Suppressed(Key key, long count) {
    }

    private static final class Bucket {
        double tokens;
        long lastNanos;
        long suppressed;

        Bucket(double tokens, long nanos) {
            this.tokens = tokens;
            this.lastNanos = nanos;
        }
    }

    LogRateLimiter(int burst, double perSecond) {
        this.burst = burst;
        this.perSecond = perSecond;
    }

    /** Whether a line of {@code key} at {@code nanos} (a {@link System#nanoTime} reading) may be written. */
    synchronized boolean admit(Key key, long nanos) {
        Bucket b = buckets.get(key);
        if (b == null) {
            if (buckets.size() >= MAX_KEYS) {
                forgetIdle(nanos);
            }
            b = new Bucket(burst, nanos);
            buckets.put(key, b);
        }
        refill(b, nanos);
        if (b.tokens >= 1) {
            b.tokens -= 1;
            return true;
        }
        b.suppressed++;
        return false;
    }

    /** The suppressed counts since the last sweep, reset to zero; forgets keys idle at a full bucket. */
    synchronized List<Suppressed> sweep(long nanos) {
        List<Suppressed> out = new ArrayList<>();
        for (Map.Entry<Key, Bucket> e : buckets.entrySet()) {
            Bucket b = e.getValue();
            if (b.suppressed > 0) {
                out.add(new Suppressed(e.getKey(), b.suppressed));
                b.suppressed = 0;
            }
        }
        forgetIdle(nanos);
        return out;
    }

    /** How many keys are tracked now. */
    synchronized int size() {
        return buckets.size();
    }

    private void forgetIdle(long nanos) {
        for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext(); ) {
            Bucket b = it.next();
            refill(b, nanos);
            if (b.suppressed == 0 && b.tokens >= burst) {
                it.remove();
            }
        }
        if (buckets.size() >= MAX_KEYS) { // everything busy: lose the counts rather than grow
            buckets.clear();
        }
    }

    private void refill(Bucket b, long nanos) {
        long elapsed = nanos - b.lastNanos;
        if (elapsed > 0) {
            b.tokens = Math.min(burst, b.tokens + elapsed * perSecond / 1e9);
            b.lastNanos = nanos;
        }
    }
}
