package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdGateway;
import org.vtpmback.etcd.EtcdVtpmStore;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.hotplug.cli.Main;
import org.vtpmback.test.host.DaemonProcess;

/**
 * The operator's commands with {@code store = etcd} on a real 1-member cluster, run in this JVM as the CLI runs them:
 * {@code pool push|pull} moving records (and refusing what they must), {@code list} with the owner column, and
 * {@code check} of members, lease and prefix.
 */
@UseEtcdCluster(members = 1)
@Timeout(120)
class PoolCliTest {
    @TempDir
    Path tmp;
    private String prefix;
    private MasterKey key;

    @BeforeEach
    void setUp() throws Exception {
        prefix = "/c" + UUID.randomUUID().toString().substring(0, 8);
        Files.createDirectories(tmp.resolve("state"), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        key = MasterKey.create(tmp.resolve("state/master.key"));
    }

    private record Run(int status, String out, String err) {
    }

    /** {@code vtpmback <args>} with this test's folders and the cluster's endpoint. */
    private Run vtpmback(EtcdCluster etcd, String endpoint, String... args) {
        return vtpmbackOn(etcd, endpoint, "etcd", args);
    }

    private Run vtpmbackOn(EtcdCluster etcd, String endpoint, String store, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of(args));
        // create and ek start swtpm: this JVM's own uid range when root (as the test module's daemons use), else no jail
        DaemonProcess.jailSettings().forEach(setting -> all.addAll(List.of("--set", setting)));
        all.addAll(List.of("--set", "state-dir=" + tmp.resolve("state"), "--set", "runtime-dir=" + tmp.resolve("run"),
                "--set", "master-key=" + tmp.resolve("state/master.key"), "--set", "store=" + store,
                "--set", "etcd-endpoints=" + (endpoint != null ? endpoint : etcd.clientUrl(0).toString()),
                "--set", "etcd-prefix=" + prefix, "--set", "pool-host-id=cli-host"));
        int rc = Main.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Uuid localVtpm(String nv) throws Exception {
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        try (InstanceStore store = new InstanceStore(tmp.resolve("state/instances"), key)) {
            store.create(uuid, TpmFamily.TPM2, nv.getBytes(StandardCharsets.US_ASCII));
        }
        return uuid;
    }

    private InstanceRecord local(Uuid uuid) throws Exception {
        try (InstanceStore store = new InstanceStore(tmp.resolve("state/instances"), key)) {
            return store.load(uuid).orElseThrow();
        }
    }

    @Test
    void pushListsWithOwnersAndPullBringsItBack(EtcdCluster etcd) throws Exception {
        Uuid a = localVtpm("NV-A");
        Uuid b = localVtpm("NV-B");
        Run push = vtpmback(etcd, null, "pool", "push", "--json");
        System.out.println("POOL-CLI push:\n" + push.out() + push.err());
        assertEquals(0, push.status(), push.err());
        assertTrue(push.out().contains("\"result\":\"moved\""), push.out());
        assertTrue(push.out().startsWith("{\"direction\":\"push\",\"vtpms\":["), push.out());
        assertFalse(Files.exists(tmp.resolve("state/instances/" + a.value() + InstanceStore.SUFFIX)), "local file retired");
        assertTrue(etcd.etcdctl("get", prefix + "/record/" + a.value(), "--print-value-only").length() > 0);

        // host-a runs b: list names it as b's owner, and pull refuses b
        try (EtcdVtpmStore host = EtcdVtpmStore.open(etcd.settings(prefix, Duration.ofSeconds(1)), new HostId("host-a"),
                LeaseTiming.of(Duration.ofSeconds(20)), key, tmp.resolve("host-a"))) {
            assertTrue(host.acquire(b, Duration.ZERO).isPresent());
            Run list = vtpmback(etcd, null, "list");
            System.out.println("POOL-CLI list:\n" + list.out());
            assertEquals(0, list.status(), list.err());
            assertTrue(list.out().contains("OWNER"), list.out());
            assertTrue(list.out().lines().anyMatch(l -> l.startsWith(b.value()) && l.contains("host-a")), list.out());
            assertTrue(list.out().lines().anyMatch(l -> l.startsWith(a.value()) && l.contains(" 1  NEW")
                    && !l.contains("host-a")), list.out());
            Run json = vtpmback(etcd, null, "list", "--json");
            assertTrue(json.out().contains("\"owner\":\"host-a\""), json.out());
            assertTrue(json.out().contains("\"owner\":null"), json.out());

            Run pull = vtpmback(etcd, null, "pool", "pull", a.value(), b.value());
            System.out.println("POOL-CLI pull:\n" + pull.out() + pull.err());
            assertEquals(1, pull.status());
            assertTrue(pull.out().lines().anyMatch(l -> l.startsWith(b.value()) && l.contains("REFUSED")
                    && l.contains("host-a owns it")), pull.out());
            assertTrue(pull.out().lines().anyMatch(l -> l.startsWith(a.value()) && l.contains("moved")), pull.out());
        }
        assertEquals("NV-A", new String(local(a).permanent(), StandardCharsets.US_ASCII));
        assertTrue(local(a).generation() > 1, "pulled above the retired mark: " + local(a).generation());
        assertEquals("", etcd.etcdctl("get", prefix + "/record/" + a.value()).strip(), "etcd record deleted");
        assertFalse(etcd.etcdctl("get", prefix + "/record/" + b.value(), "--print-value-only").isBlank(), "b stays in etcd");
    }

    @Test
    void pushRefusesOverANewerRecordAndARunningVtpm(EtcdCluster etcd) throws Exception {
        Uuid uuid = localVtpm("OLD");
        assertEquals(0, vtpmback(etcd, null, "pool", "push", uuid.value()).status());
        // the pool moves it on (a host commits generation 2), and an old local copy comes back
        try (EtcdVtpmStore host = EtcdVtpmStore.open(etcd.settings(prefix, Duration.ofSeconds(1)), new HostId("host-a"),
                LeaseTiming.of(Duration.ofSeconds(20)), key, tmp.resolve("host-a"))) {
            InstanceRecord r = host.acquire(uuid, Duration.ZERO).orElseThrow();
            host.save(r.withSave(r.generation() + 5, InstanceRecord.EndKind.SHUTDOWN, "NEWER".getBytes(), java.util.Optional.empty()));
            host.release(uuid);
        }
        try (InstanceStore store = new InstanceStore(tmp.resolve("state/instances"), key)) {
            store.importRecord(local0(uuid), true);
        }
        Run push = vtpmback(etcd, null, "pool", "push", uuid.value());
        System.out.println("POOL-CLI newer:\n" + push.out());
        assertEquals(1, push.status());
        assertTrue(push.out().contains("REFUSED") && push.out().contains("etcd holds generation 6, this host 2"), push.out());
        assertTrue(Files.exists(tmp.resolve("state/instances/" + uuid.value() + InstanceStore.SUFFIX)), "source kept");

        Files.createDirectories(tmp.resolve("run/instances/" + uuid.value())); // what the daemon keeps while it runs one
        Run busy = vtpmback(etcd, null, "pool", "push", uuid.value());
        assertEquals(1, busy.status());
        assertTrue(busy.out().contains("in use by the daemon here"), busy.out());
    }

    @Test
    void aPushThatStoppedBeforeRetiringItsSourceFinishesWithoutWritingAgain(EtcdCluster etcd) throws Exception {
        Uuid uuid = localVtpm("HALF-MOVED");
        // what a push leaves when it dies after etcd's commit and before the local delete: the same state on both sides
        PoolAdmin pool = new PoolAdmin(new EtcdGateway(etcd.settings(prefix, Duration.ofSeconds(1))));
        long revision;
        try (RecordSealing sealing = new RecordSealing(key, "test")) {
            revision = pool.putIfUnowned(uuid, sealing.seal(local(uuid)), 0).orElseThrow();
        }
        Run push = vtpmback(etcd, null, "pool", "push", uuid.value());
        System.out.println("POOL-CLI repeat:\n" + push.out());
        assertEquals(0, push.status(), push.err());
        assertTrue(push.out().contains("already in etcd at revision " + revision), push.out());
        assertEquals(revision, pool.entry(uuid).record().orElseThrow().modRevision(), "etcd not written again");
        assertFalse(Files.exists(tmp.resolve("state/instances/" + uuid.value() + InstanceStore.SUFFIX)), "local file retired");
    }

    private static InstanceRecord local0(Uuid uuid) {
        return new InstanceRecord(uuid, TpmFamily.TPM2, java.time.Instant.now(), 1, InstanceRecord.EndKind.NEW,
                "OLD".getBytes(StandardCharsets.US_ASCII), java.util.Optional.empty());
    }

    @Test
    void checkTestsMembersLeaseAndPrefix(EtcdCluster etcd) throws Exception {
        Run ok = vtpmback(etcd, null, "check");
        System.out.println("POOL-CLI check:\n" + ok.out());
        assertTrue(ok.out().lines().anyMatch(l -> l.startsWith("OK    etcd-member: " + etcd.clientUrl(0))), ok.out());
        assertTrue(ok.out().contains("OK    etcd-lease: a lease was granted and revoked"), ok.out());
        assertTrue(ok.out().contains("OK    etcd-prefix: " + prefix + " is readable"), ok.out());

        Run dead = vtpmback(etcd, "http://127.0.0.1:1", "check");
        System.out.println("POOL-CLI check (dead endpoint):\n" + dead.out());
        assertEquals(1, dead.status());
        assertTrue(dead.out().contains("FAIL  etcd-member: http://127.0.0.1:1"), dead.out());
        assertTrue(dead.out().contains("FAIL  etcd-lease"), dead.out());
        assertTrue(dead.out().contains("FAIL  etcd-prefix"), dead.out());
    }

    /**
     * The commands on one stored vTPM with store = etcd never act on the local folder the daemon does not read:
     * {@code ek}, {@code export} and {@code delete} act on the pool's record; {@code create} and {@code import} are
     * refused (exit 78) with the way round (the local store, then {@code pool push}), which this test then takes.
     */
    @Test
    void recordCommandsActOnThePoolOrRefuse(EtcdCluster etcd) throws Exception {
        String uuid = UUID.randomUUID().toString();
        Path file = tmp.resolve("state/instances/" + uuid + InstanceStore.SUFFIX);
        Run create = vtpmback(etcd, null, "create", uuid);
        System.out.println("POOL-CLI create (etcd):\n" + create.err());
        assertEquals(Main.CONFIG, create.status(), create.err());
        assertTrue(create.err().startsWith("vtpmback create: store = etcd: this command writes a host's local folder"),
                create.err());
        assertTrue(create.err().contains("'vtpmback pool push " + uuid + "'"), create.err());
        assertEquals(1, create.err().lines().count(), create.err());
        assertFalse(Files.exists(file), "nothing written locally");
        assertEquals("", etcd.etcdctl("get", "--prefix", prefix + "/").strip(), "nothing written to etcd");

        // the way round: made in the local store, read there, then pushed
        Run made = vtpmbackOn(etcd, null, "local", "create", uuid);
        assertEquals(0, made.status(), made.err());
        Run localEk = vtpmbackOn(etcd, null, "local", "ek", uuid);
        assertEquals(0, localEk.status(), localEk.err());
        assertEquals(0, vtpmback(etcd, null, "pool", "push", uuid).status());
        assertFalse(Files.exists(file), "local file retired by the push");

        Run ek = vtpmback(etcd, null, "ek", uuid);
        assertEquals(0, ek.status(), ek.err());
        assertEquals(localEk.out(), ek.out(), "the pool's record holds the same EK and certificate");
        assertTrue(ek.out().contains("-----BEGIN CERTIFICATE-----"), ek.out());
        Run missingEk = vtpmback(etcd, null, "ek", UUID.randomUUID().toString());
        assertEquals(1, missingEk.status());
        assertTrue(missingEk.err().contains("in the pool (etcd " + etcd.clientUrl(0)), missingEk.err());

        Path passphrase = Files.writeString(tmp.resolve("pass"), "correct horse battery staple\n");
        Path bundle = tmp.resolve("vtpm.bundle");
        Run export = vtpmback(etcd, null, "export", "--passphrase-file", passphrase.toString(), uuid, bundle.toString());
        System.out.println("POOL-CLI export (etcd):\n" + export.out() + export.err());
        assertEquals(0, export.status(), export.err());
        assertTrue(Files.exists(bundle));
        assertFalse(Files.exists(file), "export wrote nothing locally");

        Run imported = vtpmback(etcd, null, "import", "--passphrase-file", passphrase.toString(), bundle.toString());
        System.out.println("POOL-CLI import (etcd):\n" + imported.err());
        assertEquals(Main.CONFIG, imported.status(), imported.err());
        assertTrue(imported.err().contains("store = etcd") && imported.err().contains("pool push"), imported.err());
        assertFalse(Files.exists(file), "import wrote nothing locally");

        Uuid u = new Uuid(uuid);
        byte[] permanent;
        try (EtcdVtpmStore host = EtcdVtpmStore.open(etcd.settings(prefix, Duration.ofSeconds(1)), new HostId("host-a"),
                LeaseTiming.of(Duration.ofSeconds(20)), key, tmp.resolve("host-a"))) {
            permanent = host.acquire(u, Duration.ZERO).orElseThrow().permanent();
            Run busy = vtpmback(etcd, null, "delete", "--yes", uuid);
            System.out.println("POOL-CLI delete (owned):\n" + busy.err());
            assertEquals(1, busy.status());
            assertTrue(busy.err().contains("owned by pool host host-a"), busy.err());
            Run inUse = vtpmback(etcd, null, "export", "--passphrase-file", passphrase.toString(), uuid,
                    tmp.resolve("second.bundle").toString());
            assertEquals(0, inUse.status(), inUse.err());
            assertTrue(inUse.out().contains("note: the vTPM is in use"), inUse.out());
            host.release(u);
        }
        Run delete = vtpmback(etcd, null, "delete", "--yes", uuid);
        System.out.println("POOL-CLI delete (etcd):\n" + delete.out() + delete.err());
        assertEquals(0, delete.status(), delete.err());
        assertEquals("", etcd.etcdctl("get", prefix + "/record/" + uuid).strip(), "etcd record deleted");
        assertEquals(1, vtpmback(etcd, null, "delete", "--yes", uuid).status(), "nothing left to delete");

        // the exported bundle goes back through the local store (the refusal's advice), with the pool's state
        Run back = vtpmbackOn(etcd, null, "local", "import", "--passphrase-file", passphrase.toString(), bundle.toString());
        assertEquals(0, back.status(), back.err());
        assertTrue(java.util.Arrays.equals(permanent, local(u).permanent()), "the bundle held the pool's record");
    }
}
