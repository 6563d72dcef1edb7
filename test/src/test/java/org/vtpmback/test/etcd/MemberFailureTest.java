package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.EtcdUnavailableException;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.StoredRecord;

/**
 * Members dying under a host that commits without pause, on a real 3-member cluster: one of three
 * (the leader, which is also the member the host talks to) costs a bounded stall and no acknowledged
 * write; two of three make commits fail fast (never hang) until quorum is back. Prints ETCD-FAULT lines.
 */
@UseEtcdCluster(members = 3)
@Timeout(60)
class MemberFailureTest {
    /** Long enough that the lease outlives every outage here: these tests are about the data path. */
    private static final LeaseTiming TIMING = LeaseTiming.of(Duration.ofSeconds(20));
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(1);

    /** The outcome of a commit loop. */
    private static final class Tally {
        int ok;
        int unavailable;
        long maxStallMs;
        long revision;
        byte[] record;
        private long lastOk = System.nanoTime();

        void committed(long rev, byte[] sealed) {
            long now = System.nanoTime();
            maxStallMs = Math.max(maxStallMs, TimeUnit.NANOSECONDS.toMillis(now - lastOk));
            lastOk = now;
            ok++;
            revision = rev;
            record = sealed;
        }
    }

    /**
     * Commits for {@code millis}, repeating the same record after an unavailable answer (it may have been
     * applied: repeating it is how a caller finds out).
     */
    private static void commitFor(PoolHost host, Uuid uuid, long millis, Tally t) throws Exception {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        byte[] pending = null;
        while (System.nanoTime() - end < 0) {
            byte[] sealed = pending != null ? pending : PoolHost.sealed(1024);
            try {
                t.committed(host.store().commit(uuid, sealed, t.revision), sealed);
                pending = null;
            } catch (EtcdUnavailableException e) {
                t.unavailable++;
                pending = sealed;
            }
        }
    }

    @Test
    void killingTheLeaderOfThreeLosesNoAcknowledgedCommit(EtcdCluster etcd) throws Exception {
        int leader = etcd.leader();
        List<URI> leaderFirst = new ArrayList<>(List.of(etcd.clientUrl(leader)));
        etcd.clientUrls().stream().filter(u -> !u.equals(etcd.clientUrl(leader))).forEach(leaderFirst::add);
        EtcdSettings settings = etcd.settings("/t" + UUID.randomUUID().toString().substring(0, 8), REQUEST_TIMEOUT)
                .withEndpoints(leaderFirst);
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        Tally t = new Tally();
        try (PoolHost host = PoolHost.join(settings, "host-a", TIMING)) {
            host.store().acquire(uuid);
            commitFor(host, uuid, 500, t);
            int before = t.ok;
            long killedAt = System.nanoTime();
            etcd.kill(leader);
            commitFor(host, uuid, 2500, t);
            int whileDown = t.ok - before;
            long stallAcrossKill = t.maxStallMs;
            etcd.restart(leader);
            long backMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
            commitFor(host, uuid, 500, t);

            StoredRecord stored = host.store().read(uuid).orElseThrow();
            assertEquals(t.revision, stored.modRevision(), "the last acknowledged commit is the record");
            assertArrayEquals(t.record, stored.sealed());
            assertTrue(host.lease().isValid(), "a leader change does not cost the lease (the new leader extends it)");
            assertTrue(whileDown > 0, "commits went on with two members of three");
            assertTrue(stallAcrossKill < 5000, "stall " + stallAcrossKill + " ms");
            System.out.printf("ETCD-FAULT kill leader (member %d) of 3 under a commit loop: commits ok %d (%d before, %d with"
                    + " 2 of 3), unavailable %d, fenced 0, max stall %d ms; member back after %d ms; last acknowledged"
                    + " revision %d = stored%n", leader, t.ok, before, whileDown, t.unavailable, stallAcrossKill, backMs, t.revision);
        }
    }

    @Test
    void withoutQuorumCommitsFailFastAndGoOnWhenItIsBack(EtcdCluster etcd) throws Exception {
        EtcdSettings settings = etcd.settings("/t" + UUID.randomUUID().toString().substring(0, 8), REQUEST_TIMEOUT);
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        Tally t = new Tally();
        try (PoolHost host = PoolHost.join(settings, "host-a", TIMING)) {
            host.store().acquire(uuid);
            commitFor(host, uuid, 300, t);
            etcd.kill(1);
            etcd.kill(2);
            long worstMs = 0;
            int refused = 0;
            byte[] pending = PoolHost.sealed(1024);
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                assertThrows(EtcdUnavailableException.class, () -> host.store().commit(uuid, pending, t.revision));
                worstMs = Math.max(worstMs, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                refused++;
            }
            long bound = REQUEST_TIMEOUT.toMillis() * etcd.size() + 500;
            assertTrue(worstMs <= bound, "a commit without quorum took " + worstMs + " ms, bound " + bound);
            long outageAt = System.nanoTime();
            etcd.restart(1);
            etcd.restart(2);
            int okBefore = t.ok;
            long rev = 0;
            while (rev == 0) { // the same record again: it may have been applied before quorum was lost
                try {
                    rev = host.store().commit(uuid, pending, t.revision);
                } catch (EtcdUnavailableException e) {
                    refused++;
                }
            }
            t.committed(rev, pending);
            long recoveredMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - outageAt);
            commitFor(host, uuid, 300, t);
            assertTrue(t.ok > okBefore + 1);
            assertEquals(t.revision, host.store().read(uuid).orElseThrow().modRevision());
            System.out.printf("ETCD-FAULT quorum lost (2 of 3 killed): %d commits refused, slowest refusal %d ms (bound %d);"
                    + " first commit %d ms after the restarts began; commits ok %d, fenced 0%n",
                    refused, worstMs, bound, recoveredMs, t.ok);
        }
    }
}
