package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.FencedException;
import org.vtpmback.etcd.LeaseTiming;
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
}
