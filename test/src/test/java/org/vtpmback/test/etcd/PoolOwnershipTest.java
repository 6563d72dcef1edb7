package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.Acquisition;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.FencedException;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.OwnedElsewhereException;
import org.vtpmback.etcd.StoredRecord;

/**
 * Ownership and fenced commits between two simulated hosts on a real 3-member etcd cluster: one owner per
 * vTPM, a host that lost ownership writes nothing, a suspend snapshot handed over through the store.
 */
@UseEtcdCluster(members = 3)
@Timeout(60)
class PoolOwnershipTest {
    /** Long enough that no lease expires during a test; fencing by time is SelfFencingTest's. */
    private static final LeaseTiming TIMING = LeaseTiming.of(Duration.ofSeconds(20));

    private EtcdSettings settings;
    private String prefix;

    @BeforeEach
    void prefix(EtcdCluster etcd) {
        prefix = "/t" + UUID.randomUUID().toString().substring(0, 8);
        settings = etcd.settings(prefix, Duration.ofSeconds(1));
    }

    private static Uuid newUuid() {
        return new Uuid(UUID.randomUUID().toString());
    }

    @Test
    void twoHostsRacingForTheSameUuidsOwnOneEach() throws Exception {
        int rounds = 20;
        int winsA = 0;
        int winsB = 0;
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (PoolHost a = PoolHost.join(settings, "host-a", TIMING); PoolHost b = PoolHost.join(settings, "host-b", TIMING)) {
            for (int i = 0; i < rounds; i++) {
                Uuid uuid = newUuid();
                CountDownLatch go = new CountDownLatch(1);
                List<Future<String>> results = new ArrayList<>();
                for (PoolHost h : List.of(a, b)) {
                    results.add(pool.submit(() -> {
                        go.await();
                        try {
                            h.store().acquire(uuid);
                            return "won";
                        } catch (OwnedElsewhereException e) {
                            return "lost to " + e.owner();
                        }
                    }));
                }
                go.countDown();
                String ra = results.get(0).get();
                String rb = results.get(1).get();
                Optional<HostId> owner = a.store().owner(uuid);
                assertTrue(owner.isPresent());
                if (ra.equals("won")) {
                    assertEquals("lost to host-a", rb);
                    assertEquals("host-a", owner.get().value());
                    winsA++;
                } else {
                    assertEquals("won", rb, "round " + i + ": a " + ra);
                    assertEquals("lost to host-b", ra);
                    assertEquals("host-b", owner.get().value());
                    winsB++;
                }
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.printf("ETCD-RACE %d rounds: host-a won %d, host-b won %d, both or neither 0%n", rounds, winsA, winsB);
        assertEquals(rounds, winsA + winsB);
    }

    @Test
    void aCommitAfterAnotherHostTookOverIsFencedAndWritesNothing(EtcdCluster etcd) throws Exception {
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(settings, "host-a", TIMING); PoolHost b = PoolHost.join(settings, "host-b", TIMING)) {
            Acquisition got = a.store().acquire(uuid);
            assertTrue(got.record().isEmpty());
            long r1 = a.store().commit(uuid, PoolHost.sealed(300), 0);
            // An operator forces the take-over (etcdctl del of the owner key); host-a's lease stays alive.
            etcd.etcdctl("del", prefix + "/owner/" + uuid.value());
            Acquisition taken = b.store().acquire(uuid);
            assertEquals(r1, taken.recordRevision());
            byte[] bRecord = PoolHost.sealed(300);
            long r2 = b.store().commit(uuid, bRecord, r1);

            assertTrue(a.lease().isValid(), "host-a's lease is fine: the refusal must come from etcd's compare");
            FencedException e = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(300), r1));
            assertEquals(FencedException.Reason.OWNER_CHANGED, e.reason());
            assertEquals(Optional.of(new HostId("host-b")), e.owner());
            assertEquals(uuid, e.uuid());
            assertTrue(e.getMessage().contains("host-a") && e.getMessage().contains("host-b") && e.getMessage().contains(uuid.value()),
                    e.getMessage());
            StoredRecord now = b.store().read(uuid).orElseThrow();
            assertEquals(r2, now.modRevision(), "host-a wrote nothing");
            assertArrayEquals(bRecord, now.sealed());

            FencedException again = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(300), r2));
            assertEquals(FencedException.Reason.FENCED_BEFORE, again.reason(), "a fenced host never writes the vTPM again");
            assertEquals(r2, b.store().read(uuid).orElseThrow().modRevision());
        }
    }

    @Test
    void aCommitOnAStaleRevisionIsRefusedUntilTheHostReacquires() throws Exception {
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(settings, "host-a", TIMING)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(100), 0);
            FencedException e = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r1 - 1));
            assertEquals(FencedException.Reason.REVISION_MOVED, e.reason());
            assertEquals(FencedException.Reason.FENCED_BEFORE,
                    assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r1)).reason());
            Acquisition back = a.store().acquire(uuid);
            assertEquals(r1, back.recordRevision());
            assertTrue(a.store().commit(uuid, PoolHost.sealed(100), r1) > r1);
        }
    }

    @Test
    void aSuspendSnapshotReleasedOnOneHostIsWhatTheOtherAcquires() throws Exception {
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(settings, "host-a", TIMING); PoolHost b = PoolHost.join(settings, "host-b", TIMING)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(500), 0);
            byte[] snapshot = PoolHost.sealed(2000);
            long released = a.store().releaseWithSnapshot(uuid, snapshot, r1);
            assertEquals(Optional.empty(), a.store().owner(uuid), "the owner key went in the same txn");

            Acquisition resumed = b.store().acquire(uuid);
            assertArrayEquals(snapshot, resumed.record().orElseThrow().sealed());
            assertEquals(released, resumed.recordRevision());
            long r3 = b.store().commit(uuid, PoolHost.sealed(500), released);

            FencedException e = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(500), released));
            assertEquals(Optional.of(new HostId("host-b")), e.owner());
            assertEquals(r3, b.store().read(uuid).orElseThrow().modRevision());
        }
    }

    @Test
    void repeatingACommitWhoseAnswerWasLostIsASuccessNotAFence() throws Exception {
        Uuid uuid = newUuid();
        try (PoolHost a = PoolHost.join(settings, "host-a", TIMING)) {
            a.store().acquire(uuid);
            byte[] record = PoolHost.sealed(200);
            long r1 = a.store().commit(uuid, record, 0);
            assertEquals(r1, a.store().commit(uuid, record, 0), "the same sealed bytes at the same expected revision: already applied");
            assertEquals(r1, a.store().read(uuid).orElseThrow().modRevision());
            assertTrue(a.store().commit(uuid, PoolHost.sealed(200), r1) > r1, "and the host is not fenced by it");
        }
    }

    @Test
    void aRestartedDaemonTakesBackItsOwnOwnerKeyAndFencesItsOldLease() throws Exception {
        Uuid uuid = newUuid();
        PoolHost before = PoolHost.join(settings, "host-a", TIMING);
        try (PoolHost after = PoolHost.join(settings, "host-a", TIMING)) {
            try {
                before.store().acquire(uuid);
                long r1 = before.store().commit(uuid, PoolHost.sealed(100), 0);
                Acquisition again = after.store().acquire(uuid); // the old lease still lives, as after a crash
                assertEquals(r1, again.recordRevision());
                long r2 = after.store().commit(uuid, PoolHost.sealed(100), r1);
                FencedException e = assertThrows(FencedException.class, () -> before.store().commit(uuid, PoolHost.sealed(100), r2));
                assertEquals(FencedException.Reason.OWNER_CHANGED, e.reason(), "the old lease no longer holds the key");
            } finally {
                before.close(); // revokes the old lease: the key is on the new one now, so it stays
            }
            assertEquals(Optional.of(new HostId("host-a")), after.store().owner(uuid));
        }
    }
}
