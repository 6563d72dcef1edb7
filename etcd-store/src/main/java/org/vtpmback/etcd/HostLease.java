package org.vtpmback.etcd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * This host's etcd lease: every owner key of the host is attached to it, so they all disappear when it
 * expires. A thread sends keep-alives every {@link LeaseTiming#keepAliveEvery}; another fences the host
 * at its {@link FenceDeadline} if none got through. Fenced is final: the lease is never used again (a
 * host that wants to go on grants a new one and re-acquires its vTPMs), so a host cannot drift from
 * "fenced" back to "owner" on its own.
 *
 * <p>The listener given to {@link #grant} runs once, on the lease's thread, when the host becomes fenced.
 * Thread-safe.
 */
public final class HostLease implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(HostLease.class.getName());

    private final EtcdGateway gateway;
    private final long id;
    private final LeaseTiming timing;
    private final FenceDeadline deadline;
    private final Consumer<FencedException.Reason> onFenced;
    private final AtomicReference<FencedException.Reason> fenced = new AtomicReference<>();
    private final AtomicLong keepAlivesOk = new AtomicLong();
    private final AtomicLong keepAlivesFailed = new AtomicLong();
    private final ScheduledThreadPoolExecutor threads;
    private volatile long fencedAtNanos;
    private volatile boolean closed;

    private HostLease(EtcdGateway gateway, long id, LeaseTiming timing, FenceDeadline deadline,
                      Consumer<FencedException.Reason> onFenced) {
        this.gateway = gateway;
        this.id = id;
        this.timing = timing;
        this.deadline = deadline;
        this.onFenced = onFenced;
        String name = "etcd-lease-" + Long.toHexString(id);
        // Two threads: a keep-alive blocked on a stopped member must not delay the fence.
        this.threads = new ScheduledThreadPoolExecutor(2, r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
        threads.setRemoveOnCancelPolicy(true);
    }

    /**
     * Grants a lease and starts keeping it alive.
     *
     * @param onFenced runs once when the host becomes fenced (keep it short: it runs on the lease thread)
     */
    public static HostLease grant(EtcdGateway gateway, LeaseTiming timing, Consumer<FencedException.Reason> onFenced)
            throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call("/v3/lease/grant", Map.of("TTL", Long.toString(timing.ttl().toSeconds())));
        long id;
        long ttl;
        try {
            id = GatewayReply.number(reply.body(), "ID");
            ttl = GatewayReply.number(reply.body(), "TTL");
        } catch (IOException e) {
            throw new EtcdStoreException("etcd's answer to a lease grant is unreadable: " + e.getMessage(), e);
        }
        if (id == 0 || ttl * 1000 <= timing.margin().toMillis()) {
            throw new EtcdStoreException("etcd granted lease " + id + " with TTL " + ttl + " s, no use with a margin of "
                    + timing.margin() + ": " + reply.body().getOrDefault("error", ""));
        }
        FenceDeadline deadline = new FenceDeadline(reply.sentNanos(), ttl, timing.margin().toNanos());
        HostLease lease = new HostLease(gateway, id, timing, deadline, onFenced);
        lease.start();
        return lease;
    }

    private void start() {
        long every = timing.keepAliveEvery().toNanos();
        threads.scheduleWithFixedDelay(this::keepAlive, every, every, TimeUnit.NANOSECONDS);
        armFence();
    }

    /** The etcd lease id (what owner keys are attached to). */
    public long id() {
        return id;
    }

    /** Whether the host may still act as owner: not fenced, and the deadline has not passed. */
    public boolean isValid() {
        return fencedReason().isEmpty();
    }

    /** Why the host is fenced, or empty while it is not. Checks the deadline itself (the timer may lag). */
    public Optional<FencedException.Reason> fencedReason() {
        if (fenced.get() == null && deadline.remaining(System.nanoTime()) <= 0) {
            fence(FencedException.Reason.LEASE_EXPIRED);
        }
        return Optional.ofNullable(fenced.get());
    }

    /** How long the host may still act as owner without another successful keep-alive (zero when fenced). */
    public Duration remaining() {
        return isValid() ? Duration.ofNanos(Math.max(0, deadline.remaining(System.nanoTime()))) : Duration.ZERO;
    }

    /** {@link System#nanoTime} when the host became fenced (0 while it is not). */
    public long fencedAtNanos() {
        return fencedAtNanos;
    }

    /** Keep-alives etcd acknowledged. */
    public long keepAlivesOk() {
        return keepAlivesOk.get();
    }

    /** Keep-alives that failed (no member answered in time). */
    public long keepAlivesFailed() {
        return keepAlivesFailed.get();
    }

    private void keepAlive() {
        if (!isValid()) {
            return;
        }
        try {
            GatewayReply reply = gateway.call("/v3/lease/keepalive", Map.of("ID", Long.toString(id)));
            Map<String, Object> result = reply.body().get("result") instanceof Map<?, ?>
                    ? GatewayReply.object(reply.body(), "result") : Map.of();
            long ttl = GatewayReply.number(result, "TTL");
            if (reply.body().containsKey("error") || result.isEmpty()) {
                keepAlivesFailed.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, "etcd lease " + Long.toHexString(id) + ": keep-alive refused: " + reply.body());
            } else if (ttl <= 0) {
                // etcd answers TTL 0 for a lease it does not know: expired or revoked.
                fence(FencedException.Reason.LEASE_GONE);
            } else {
                deadline.renewed(reply.sentNanos(), ttl);
                keepAlivesOk.incrementAndGet();
            }
        } catch (InterruptedIOException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
            keepAlivesFailed.incrementAndGet();
            LOG.log(System.Logger.Level.WARNING, "etcd lease " + Long.toHexString(id) + ": keep-alive failed, "
                    + remaining().toMillis() + " ms left before this host fences itself: " + e.getMessage());
        }
    }

    /** Checks the deadline when it falls due; re-arms to the (possibly renewed) deadline otherwise. */
    private void armFence() {
        if (closed || fenced.get() != null) {
            return;
        }
        long left = deadline.remaining(System.nanoTime());
        if (left <= 0) {
            fence(FencedException.Reason.LEASE_EXPIRED);
        } else {
            threads.schedule(this::armFence, left, TimeUnit.NANOSECONDS);
        }
    }

    private void fence(FencedException.Reason reason) {
        if (!fenced.compareAndSet(null, reason)) {
            return;
        }
        fencedAtNanos = System.nanoTime();
        LOG.log(System.Logger.Level.ERROR, "etcd lease " + Long.toHexString(id) + ": this host is fenced: " + reason.text()
                + "; it stops acting as owner of every vTPM it held");
        if (!closed) {
            try {
                threads.execute(() -> onFenced.accept(reason));
            } catch (RejectedExecutionException e) {
                // closed meanwhile: a host that closes its lease stops its vTPMs itself
            }
        }
    }

    /**
     * Stops the keep-alives and revokes the lease, which deletes every owner key on it (other hosts may
     * take those vTPMs at once). Best effort when etcd is unreachable: the lease then expires. Idempotent.
     */
    @Override
    public void close() {
        if (stop()) {
            revoke();
        }
    }

    /**
     * Stops the keep-alives but leaves the lease to expire within its TTL, with the owner keys on it: a daemon that
     * stops under running guests leaves their vTPMs this host's, and its successor re-attaches them to its own lease
     * ({@link PoolRecordStore#acquire}). Idempotent.
     */
    public void closeKeepingKeys() {
        if (stop()) {
            awaitThreads();
        }
    }

    /** Marks the lease closed (used no more) and stops its threads; false if it was closed already. */
    private synchronized boolean stop() {
        if (closed) {
            return false;
        }
        closed = true;
        fenced.compareAndSet(null, FencedException.Reason.LEASE_GONE);
        threads.shutdownNow();
        return true;
    }

    private void revoke() {
        try {
            gateway.call("/v3/lease/revoke", Map.of("ID", Long.toString(id)));
        } catch (InterruptedIOException e) {
            Thread.currentThread().interrupt();
        } catch (EtcdRefusedException e) {
            if (e.grpcCode() != EtcdRefusedException.NOT_FOUND) {
                LOG.log(System.Logger.Level.WARNING, "etcd lease " + Long.toHexString(id) + ": revoke refused: " + e.getMessage());
            } // NOT_FOUND: the lease had expired or was revoked already
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "etcd lease " + Long.toHexString(id) + ": revoke failed, it expires within its TTL: " + e.getMessage());
        }
        awaitThreads();
    }

    private void awaitThreads() {
        try {
            threads.awaitTermination(timing.ttl().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "lease " + Long.toHexString(id) + (isValid() ? " (valid, " + remaining().toMillis() + " ms left)"
                : " (fenced: " + fenced.get() + ")");
    }
}
