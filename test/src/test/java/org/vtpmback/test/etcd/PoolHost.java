package org.vtpmback.test.etcd;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.vtpmback.etcd.EtcdGateway;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.FencedException;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.HostLease;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.PoolRecordStore;
import org.vtpmback.etcd.RevisionGuard;

/**
 * One simulated pool host in the test JVM: its own gateway (to the members it can reach), lease and
 * record store, as a daemon would hold them. Closing it revokes its lease.
 */
final class PoolHost implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final PoolRecordStore store;
    private final CountDownLatch fenced;
    private final AtomicReference<FencedException.Reason> fenceReason;

    private PoolHost(PoolRecordStore store, CountDownLatch fenced, AtomicReference<FencedException.Reason> fenceReason) {
        this.store = store;
        this.fenced = fenced;
        this.fenceReason = fenceReason;
    }

    static PoolHost join(EtcdSettings settings, String name, LeaseTiming timing) throws IOException {
        return join(settings, name, timing, new RevisionGuard());
    }

    static PoolHost join(EtcdSettings settings, String name, LeaseTiming timing, RevisionGuard guard) throws IOException {
        EtcdGateway gateway = new EtcdGateway(settings);
        CountDownLatch fenced = new CountDownLatch(1);
        AtomicReference<FencedException.Reason> reason = new AtomicReference<>();
        HostLease lease = HostLease.grant(gateway, timing, r -> {
            reason.set(r);
            fenced.countDown();
        });
        return new PoolHost(new PoolRecordStore(gateway, new HostId(name), lease, guard), fenced, reason);
    }

    PoolRecordStore store() {
        return store;
    }

    HostLease lease() {
        return store.lease();
    }

    /** Waits for the lease's fence listener; returns the reason, or null after the timeout. */
    FencedException.Reason awaitFenced(long millis) throws InterruptedException {
        return fenced.await(millis, TimeUnit.MILLISECONDS) ? fenceReason.get() : null;
    }

    /** A stand-in for a sealed record: random bytes are unique per write, as AES-GCM output is. */
    static byte[] sealed(int length) {
        byte[] b = new byte[length];
        RANDOM.nextBytes(b);
        return b;
    }

    @Override
    public void close() {
        store.lease().close();
    }

    @Override
    public String toString() {
        return "host " + store.host() + " (" + store.lease() + ")";
    }
}
