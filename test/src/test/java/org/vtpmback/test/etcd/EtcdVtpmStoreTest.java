package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.FencedStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.SealedMarks;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.EtcdVtpmStore;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.LeaseTiming;

/**
 * The daemon's etcd store on a real cluster, below the daemon: what etcd holds (the local store's seal, nothing in
 * plaintext), the revision marks surviving a restart, and a lost lease fencing the host's vTPMs until a new start.
 */
@UseEtcdCluster(members = 1)
@Timeout(60)
class EtcdVtpmStoreTest {
    private static final Pattern VALUE = Pattern.compile("\"value\":\"([A-Za-z0-9+/=]+)\"");

    @TempDir
    Path tmp;
    private EtcdSettings settings;
    private String prefix;
    private MasterKey key;

    @BeforeEach
    void prefix(EtcdCluster etcd) throws IOException {
        prefix = "/s" + UUID.randomUUID().toString().substring(0, 8);
        settings = etcd.settings(prefix, Duration.ofSeconds(1));
        key = MasterKey.create(tmp.resolve("pool/master.key"));
    }

    private EtcdVtpmStore open(String host, Duration ttl) throws IOException {
        return EtcdVtpmStore.open(settings, new HostId(host), LeaseTiming.of(ttl), key, tmp.resolve(host));
    }

    private static Uuid newUuid() {
        return new Uuid(UUID.randomUUID().toString());
    }

    private static byte[] permanent(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private byte[] inEtcd(EtcdCluster etcd, Uuid uuid) throws IOException {
        Matcher m = VALUE.matcher(etcd.etcdctl("get", prefix + "/record/" + uuid.value(), "-w", "json"));
        assertTrue(m.find(), "a record in etcd");
        return Base64.getDecoder().decode(m.group(1));
    }

    @Test
    void etcdHoldsTheRecordSealedAsTheLocalStoreSealsIt(EtcdCluster etcd) throws Exception {
        Uuid uuid = newUuid();
        try (EtcdVtpmStore store = open("host-a", Duration.ofSeconds(20))) {
            assertEquals(Optional.empty(), store.acquire(uuid, Duration.ZERO));
            InstanceRecord made = store.create(uuid, TpmFamily.TPM2, permanent("PLAINTEXT-NV-SECRET"));
            byte[] sealed = inEtcd(etcd, uuid);
            assertFalse(new String(sealed, StandardCharsets.ISO_8859_1).contains("PLAINTEXT-NV-SECRET"), "ciphertext only");
            try (RecordSealing local = new RecordSealing(key, "test")) {
                InstanceRecord opened = local.open(uuid, sealed, "etcd");
                assertEquals(made.generation(), opened.generation());
                assertArrayEquals(made.permanent(), opened.permanent());
            }
            try (RecordSealing other = new RecordSealing(MasterKey.create(tmp.resolve("other/master.key")), "test")) {
                assertThrows(org.vtpmback.backend.state.CorruptStateException.class, () -> other.open(uuid, sealed, "etcd"),
                        "another key opens nothing");
            }
        }
    }

    @Test
    void aRestartedStoreStillRefusesARecordOlderThanItsMark(EtcdCluster etcd) throws Exception {
        Uuid uuid = newUuid();
        try (EtcdVtpmStore store = open("host-a", Duration.ofSeconds(20))) {
            store.acquire(uuid, Duration.ZERO);
            InstanceRecord made = store.create(uuid, TpmFamily.TPM2, permanent("one"));
            store.checkpoint(made.withSave(2, InstanceRecord.EndKind.RUNNING, permanent("two"), Optional.empty()));
        } // closed holding the vTPM, as a daemon stop under a running guest: the owner key stays
        try (SealedMarks marks = SealedMarks.open(tmp.resolve("host-a"), "etcd-revisions", key)) {
            assertTrue(marks.read().getOrDefault(uuid, 0L) > 0, "the mark is on disk, sealed: " + marks.read());
        }
        etcd.etcdctl("del", prefix + "/record/" + uuid.value()); // the store put back to before the vTPM existed
        try (EtcdVtpmStore restarted = open("host-a", Duration.ofSeconds(20))) {
            IOException refused = assertThrows(IOException.class, () -> restarted.acquire(uuid, Duration.ZERO));
            assertTrue(refused.getMessage().contains("the store was rolled back"), refused.getMessage());
        }
    }

    @Test
    void aLostLeaseFencesItsVtpmsAndTheNextStartGetsANewLease(EtcdCluster etcd) throws Exception {
        Uuid uuid = newUuid();
        try (EtcdVtpmStore store = open("host-a", Duration.ofSeconds(2))) {
            store.acquire(uuid, Duration.ZERO);
            InstanceRecord r = store.create(uuid, TpmFamily.TPM2, permanent("one"));
            String leases = etcd.etcdctl("lease", "list");
            Matcher id = Pattern.compile("\\b([0-9a-f]{8,16})\\b").matcher(leases.substring(leases.indexOf('\n') + 1));
            assertTrue(id.find(), leases);
            etcd.etcdctl("lease", "revoke", id.group(1)); // as an operator would, or an expiry in a partition
            long t0 = System.nanoTime();
            while (store.fenced(uuid).isEmpty()) {
                assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "fenced within the keep-alive period");
                Thread.sleep(20);
            }
            InstanceRecord next = r.withSave(2, InstanceRecord.EndKind.RUNNING, permanent("two"), Optional.empty());
            FencedStateException f = assertThrows(FencedStateException.class, () -> store.checkpoint(next));
            assertTrue(f.getMessage().contains("host host-a is fenced from vTPM " + uuid), f.getMessage());
            assertArrayEquals(permanent("one"), new RecordSealing(key, "t").open(uuid, inEtcd(etcd, uuid), "etcd").permanent(),
                    "nothing written after the fence");

            // a later start of it (the vTPM is free: its owner key went with the lease) runs on a new lease
            InstanceRecord again = store.acquire(uuid, Duration.ZERO).orElseThrow();
            assertEquals(Optional.empty(), store.fenced(uuid));
            store.checkpoint(again.withSave(again.generation() + 1, InstanceRecord.EndKind.RUNNING, permanent("three"),
                    Optional.empty()));
            assertArrayEquals(permanent("three"), new RecordSealing(key, "t").open(uuid, inEtcd(etcd, uuid), "etcd").permanent());
        }
    }
}
