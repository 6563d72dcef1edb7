package org.vtpmback.etcd;

import java.time.Duration;

/**
 * The timing of a host's lease. The host stops acting as owner {@code margin} before the lease could
 * expire on etcd's side, counted from the SEND of the last keep-alive that etcd acknowledged: etcd
 * renews the lease when it receives that request, which is later, so etcd's expiry is at least
 * {@code send + ttl} and the host's deadline {@code send + ttl - margin} comes first. The margin covers
 * the rate difference of the two clocks and the time the host needs to stop its vTPMs. Immutable.
 *
 * @param ttl            the lease's time to live as asked of etcd (etcd 3.4 grants at least 2 s)
 * @param margin         how long before the earliest possible expiry the host fences itself
 * @param keepAliveEvery the pause between two keep-alives; must leave room for at least one retry
 *                       before the deadline
 */
public record LeaseTiming(Duration ttl, Duration margin, Duration keepAliveEvery) {
    /** The least time one request to one member is given (the fixed timeout of every request before 2026-12-03). */
    static final Duration MIN_REQUEST_TIMEOUT = Duration.ofSeconds(2);

    public LeaseTiming {
        if (ttl.compareTo(Duration.ofSeconds(2)) < 0 || ttl.toMillis() % 1000 != 0) {
            throw new IllegalArgumentException("lease TTL must be whole seconds, at least 2 (etcd's minimum), not " + ttl);
        }
        if (margin.isNegative() || margin.isZero() || margin.compareTo(ttl) >= 0) {
            throw new IllegalArgumentException("lease margin " + margin + " must be above 0 and below the TTL " + ttl);
        }
        if (keepAliveEvery.isNegative() || keepAliveEvery.isZero()
                || keepAliveEvery.multipliedBy(2).compareTo(ttl.minus(margin)) > 0) {
            throw new IllegalArgumentException("keep-alive every " + keepAliveEvery + " leaves no room for a second try within "
                    + ttl.minus(margin) + " (TTL - margin)");
        }
    }

    /** The default for a TTL: margin and keep-alive period a quarter of it (two keep-alives may fail). */
    public static LeaseTiming of(Duration ttl) {
        return new LeaseTiming(ttl, ttl.dividedBy(4), ttl.dividedBy(4));
    }

    /**
     * How long one request to one member may take before the next member is tried. With several members, 2 s: that
     * timeout is what moves a call on to a live member, so it stays short (EtcdPoolHostsTest's quorum loss recovered
     * only with it). With one member there is no other to try: a request may take a whole keep-alive period (at least
     * 2 s), so a slow host needs only a longer TTL. In the emulated dom0 of the real-Xen test a fresh JVM's first
     * connect to etcd on loopback took more than 2 s.
     *
     * @param members how many endpoints a call may try
     */
    public Duration requestTimeout(int members) {
        if (members > 1 || keepAliveEvery.compareTo(MIN_REQUEST_TIMEOUT) <= 0) {
            return MIN_REQUEST_TIMEOUT;
        }
        return keepAliveEvery;
    }
}
