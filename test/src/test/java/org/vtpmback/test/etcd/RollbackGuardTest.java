package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdGateway;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.FencedException;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.etcd.RevisionGuard;
import org.vtpmback.etcd.RolledBackRecordException;

/**
 * The store put back in time the way an operator can: {@code etcdctl snapshot save}, more commits, then
 * the whole 3-member cluster restored from that snapshot. The host that committed the newer records
 * refuses the older one and writes nothing over it.
 */
@UseEtcdCluster(members = 3)
@Timeout(60)
class RollbackGuardTest {
    @Test
    void aRecordOlderThanWhatThisHostCommittedIsRefused(EtcdCluster etcd) throws Exception {
        EtcdSettings settings = etcd.settings("/t" + UUID.randomUUID().toString().substring(0, 8), Duration.ofSeconds(1));
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        Path snapshot = etcd.dir().resolve("backup.db");
        RevisionGuard marks = new RevisionGuard();
        try (PoolHost a = PoolHost.join(settings, "host-a", LeaseTiming.of(Duration.ofSeconds(20)), marks)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(100), 0);
            etcd.snapshot(0, snapshot);
            long r2 = a.store().commit(uuid, PoolHost.sealed(100), r1);
            long r3 = a.store().commit(uuid, PoolHost.sealed(100), r2);
            assertEquals(r3, marks.mark(uuid));

            etcd.restoreFromSnapshot(snapshot);

            RolledBackRecordException read = assertThrows(RolledBackRecordException.class, () -> a.store().read(uuid));
            assertEquals(r1, read.foundRevision());
            assertEquals(r3, read.committedRevision());
            assertThrows(RolledBackRecordException.class, () -> a.store().acquire(uuid));
            FencedException commit = assertThrows(FencedException.class, () -> a.store().commit(uuid, PoolHost.sealed(100), r3));
            assertEquals(FencedException.Reason.REVISION_MOVED, commit.reason(), "nothing is written over the old record");

            // The same host after a restart, with the marks it saved: still refused.
            try (PoolHost restarted = PoolHost.join(settings, "host-a", LeaseTiming.of(Duration.ofSeconds(20)),
                    new RevisionGuard(marks.marks()))) {
                assertThrows(RolledBackRecordException.class, () -> restarted.store().read(uuid));
            }
            // The limit: a host that never committed this vTPM has no mark and cannot tell (docs/pool.md).
            try (PoolHost stranger = PoolHost.join(settings, "host-c", LeaseTiming.of(Duration.ofSeconds(20)))) {
                assertEquals(r1, stranger.store().read(uuid).orElseThrow().modRevision());
            }
            assertTrue(r1 < r3);
            System.out.printf("ETCD-ROLLBACK committed r%d, r%d, r%d; cluster restored from the snapshot taken at r%d:"
                    + " read, acquire and commit refused on host-a%n", r1, r2, r3, r1);
        }
    }
    /**
     * A record gone from etcd: refused as rolled back by the host that committed it, unless it was deleted on purpose
     * ({@code vtpmback delete}: {@link PoolAdmin#deleteIfUnowned} writes the uuid's deletion key in the same txn);
     * then that host may make a new vTPM of the uuid, as the local store allows and as hosts without a mark always
     * did. A record taken out by {@code pool pull} ({@link PoolAdmin#takeOutIfUnowned}) stays refused: it lives on
     * in a host's local store.
     */
    @Test
    void aRecordDeletedOnPurposeMayBeMadeAgainButOneThatVanishedIsRefused(EtcdCluster etcd) throws Exception {
        EtcdSettings settings = etcd.settings("/d" + UUID.randomUUID().toString().substring(0, 8), Duration.ofSeconds(1));
        Uuid deleted = new Uuid(UUID.randomUUID().toString());
        Uuid pulled = new Uuid(UUID.randomUUID().toString());
        Uuid vanished = new Uuid(UUID.randomUUID().toString());
        RevisionGuard marks = new RevisionGuard();
        try (PoolHost a = PoolHost.join(settings, "host-a", LeaseTiming.of(Duration.ofSeconds(20)), marks)) {
            PoolAdmin admin = new PoolAdmin(new EtcdGateway(settings));
            Map<Uuid, Long> last = new HashMap<>();
            for (Uuid u : List.of(deleted, pulled, vanished)) {
                a.store().acquire(u);
                long r = a.store().commit(u, PoolHost.sealed(100), 0);
                last.put(u, a.store().commit(u, PoolHost.sealed(100), r));
                assertTrue(a.store().release(u));
            }
            assertTrue(admin.deleteIfUnowned(deleted, last.get(deleted)));
            assertTrue(admin.takeOutIfUnowned(pulled, last.get(pulled)));
            etcd.etcdctl("del", settings.prefix() + "/record/" + vanished.value()); // lost behind the hosts' backs

            assertEquals(Optional.empty(), a.store().read(deleted), "deleted on purpose: no record, and no refusal");
            assertEquals(Optional.empty(), a.store().acquire(deleted).record());
            long again = a.store().commit(deleted, PoolHost.sealed(100), 0); // a new vTPM of the same uuid
            assertTrue(again > last.get(deleted));
            assertEquals(again, marks.mark(deleted));
            for (Uuid u : List.of(pulled, vanished)) {
                RolledBackRecordException refused = assertThrows(RolledBackRecordException.class, () -> a.store().read(u));
                assertEquals(0, refused.foundRevision());
                assertEquals(last.get(u), refused.committedRevision());
            }
            // The same after a restart, from the marks it saved.
            try (PoolHost restarted = PoolHost.join(settings, "host-a", LeaseTiming.of(Duration.ofSeconds(20)),
                    new RevisionGuard(marks.marks()))) {
                assertEquals(again, restarted.store().read(deleted).orElseThrow().modRevision());
                assertThrows(RolledBackRecordException.class, () -> restarted.store().read(vanished));
            }
            System.out.printf("ETCD-DELETED deleted at r%d: read, acquire and a new record (r%d) accepted; pulled and"
                    + " vanished records refused as rolled back%n", last.get(deleted), again);
        }
    }
}
