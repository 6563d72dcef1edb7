package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.FencedException;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.OwnedElsewhereException;

/**
 * A host whose lease cannot be renewed fences itself before etcd can expire the lease, so by the time
 * another host may take its vTPMs over it has stopped acting as their owner. Real 3-member cluster; the
 * partition is a SIGSTOP of the only member the host reaches.
 */
@UseEtcdCluster(members = 3)
@Timeout(60)
class SelfFencingTest {
    /** TTL 4 s, fenced 1 s before the earliest expiry, a keep-alive every second. */
    private static final LeaseTiming TIMING = new LeaseTiming(Duration.ofSeconds(4), Duration.ofSeconds(1), Duration.ofSeconds(1));

    private static Uuid newUuid() {
        return new Uuid(UUID.randomUUID().toString());
    }

    private static String prefix() {
        return "/t" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Test
    void aHostCutOffFromEtcdFencesItselfBeforeAnotherHostCanTakeOver(EtcdCluster etcd) throws Exception {
        EtcdSettings all = etcd.settings(prefix(), Duration.ofSeconds(1));
        int cut = (etcd.leader() + 1) % 3; // a follower: its SIGSTOP cuts host-a off without an election
        List<java.net.URI> others = etcd.clientUrls().stream().filter(u -> !u.equals(etcd.clientUrl(cut))).toList();
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(all.withEndpoints(List.of(etcd.clientUrl(cut))), "host-a", TIMING);
             PoolHost b = PoolHost.join(all.withEndpoints(others), "host-b", TIMING)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(100), 0);
            Thread.sleep(1200); // a keep-alive goes through first

            long cutAt = System.nanoTime();
            etcd.pause(cut);
            FencedException.Reason reason = a.awaitFenced(TIMING.ttl().toMillis() + 2000);
            assertEquals(FencedException.Reason.LEASE_EXPIRED, reason);
            long fencedAt = a.lease().fencedAtNanos();
            long ttlAtFence = etcd.leaseTtl(a.lease().id());
            assertTrue(ttlAtFence >= 0, "host-a fenced itself only after etcd expired its lease");

            long takenAt = 0;
            int refusals = 0;
            while (takenAt == 0) {
                try {
                    b.store().acquire(uuid);
                    takenAt = System.nanoTime();
                } catch (OwnedElsewhereException e) {
                    assertEquals(new HostId("host-a"), e.owner());
                    refusals++;
                    Thread.sleep(20);
                }
            }
            assertTrue(fencedAt - takenAt < 0, "host-a fenced itself before host-b could take its vTPM");
            long fenceMs = TimeUnit.NANOSECONDS.toMillis(fencedAt - cutAt);
            long takeMs = TimeUnit.NANOSECONDS.toMillis(takenAt - cutAt);
            System.out.printf("ETCD-FENCE cut off member %d: host-a fenced after %d ms (etcd still gave its lease %d s), host-b took over after %d ms"
                    + " (%d acquire refusals before), gap %d ms; host-a keep-alives ok %d failed %d%n",
                    cut, fenceMs, ttlAtFence, takeMs, refusals, takeMs - fenceMs,
                    a.lease().keepAlivesOk(), a.lease().keepAlivesFailed());

            long t = System.nanoTime();
            FencedException e = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r1));
            assertEquals(FencedException.Reason.LEASE_EXPIRED, e.reason());
            assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t) < 500, "refused locally, without waiting on etcd");
            etcd.resume(cut);
            etcd.awaitHealthy(Duration.ofSeconds(10));
            assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r1), "fenced stays fenced");
            assertEquals(Optional.of(new HostId("host-b")), b.store().owner(uuid));
            assertEquals(r1, b.store().read(uuid).orElseThrow().modRevision(), "nothing of host-a's after the cut");
        } finally {
            resumeQuietly(etcd, cut); // never leave a member stopped for the next test
        }
    }

    @Test
    void aRevokedLeaseFencesTheHostAtItsNextKeepAlive(EtcdCluster etcd) throws Exception {
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(etcd.settings(prefix(), Duration.ofSeconds(1)), "host-a", TIMING)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(100), 0);
            etcd.etcdctl("lease", "revoke", Long.toHexString(a.lease().id()));
            FencedException.Reason reason = a.awaitFenced(TIMING.keepAliveEvery().toMillis() + 2000);
            assertNotNull(reason, "no fence within a keep-alive period after the revocation");
            assertEquals(FencedException.Reason.LEASE_GONE, reason);
            FencedException e = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r1));
            assertEquals(FencedException.Reason.LEASE_GONE, e.reason());
            assertEquals(Optional.empty(), a.store().owner(uuid), "the owner key went with the lease");
        }
    }

    private static void resumeQuietly(EtcdCluster etcd, int member) {
        try {
            etcd.resume(member);
        } catch (Exception e) {
            // SIGCONT to a running member changes nothing; a dead one is the cluster's to report
        }
    }
}
