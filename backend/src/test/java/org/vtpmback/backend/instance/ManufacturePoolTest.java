package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.EkReader;
import org.vtpmback.backend.manufacture.Endorsement;
import org.vtpmback.backend.manufacture.LocalCa;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;

/**
 * The pool of ready-made TPMs on real swtpm: entries made in the background at the lowest priority and sealed
 * like any record, each taken once (two first starts get two EKs, a taken entry is never offered again, not even
 * after a crash before its vTPM was stored or with a copy of its file put back), the pool refilled after a take
 * and found again by the next daemon, an entry of either family bound to its uuid by an EK certificate for the EK
 * made before; a close kills the entry being made.
 */
@Timeout(180)
class ManufacturePoolTest {
    private static final Duration FILL = Duration.ofSeconds(120);

    @TempDir
    Path tmp;

    /** Nice values of the swtpm processes started for the pool, read as each starts. */
    private final List<Integer> niceOfPoolSwtpm = new CopyOnWriteArrayList<>();
    private final List<ManufacturePool> pools = new ArrayList<>();

    @AfterEach
    void closePools() {
        pools.forEach(ManufacturePool::close);
    }

    private ManufacturePool pool(Map<TpmFamily, Integer> sizes) throws Exception {
        MasterKey key = MasterKey.loadOrCreate(tmp.resolve("master.key"), tmp.resolve("instances"));
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run")));
        EngineFactory engines = (name, family, dir) -> {
            TpmEngine e = launcher.create(name, family, dir);
            if (Thread.currentThread().getName().equals("vtpm-pool-fill")) {
                niceOfPoolSwtpm.add(nice(e.processId().orElseThrow()));
            }
            return e;
        };
        AsideManufacture aside = new AsideManufacture(new EngineBoot(engines, tmp.resolve("engines")),
                new StandardManufacturer(tmp.resolve("ca")));
        ManufacturePool pool = new ManufacturePool(new ManufacturePool.Settings(new InstanceStore(tmp.resolve("pool"), key), sizes),
                aside, aside.staged().orElseThrow());
        pools.add(pool);
        return pool;
    }

    private static void awaitReady(ManufacturePool pool, Map<TpmFamily, Integer> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + FILL.toNanos();
        while (!pool.readyCounts().entrySet().stream().allMatch(e -> e.getValue() >= wanted.getOrDefault(e.getKey(), 0))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("pool not filled to " + wanted + " within " + FILL + ": " + pool.describe());
            }
            Thread.sleep(50);
        }
    }

    /** What a copy of the TPM with {@code permanent} state shows: its EK and EK certificate. */
    private Endorsement read(TpmFamily family, byte[] permanent) {
        return started(family, permanent, EkReader::read);
    }

    /** {@code entry} bound to {@code uuid} in an engine started on it, as a first start does: the bound state. */
    private byte[] bound(ManufacturePool pool, ManufacturePool.Entry entry, Uuid uuid) {
        return started(entry.family(), entry.permanent(), e -> {
            pool.bind(e, uuid);
            return e.saveState(false).permanent();
        });
    }

    private <T> T started(TpmFamily family, byte[] permanent, java.util.function.Function<TpmEngine, T> work) {
        EngineBoot boot = new EngineBoot(new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run"))), tmp.resolve("read"));
        String name = UUID.randomUUID().toString();
        try (TpmEngine e = boot.startCopy(name, family, permanent)) {
            return work.apply(e);
        } finally {
            EngineBoot.removeFolder(boot.copyFolderOf(name));
        }
    }

    private static Uuid newUuid() {
        return Uuid.parse(UUID.randomUUID().toString());
    }

    private List<Path> poolFiles() throws Exception {
        try (Stream<Path> files = Files.list(tmp.resolve("pool"))) {
            return files.filter(f -> f.getFileName().toString().endsWith(InstanceStore.SUFFIX)).sorted().toList();
        }
    }

    @Test
    void aTpm2EntryIsBoundToItsUuidByAnEkCertificateAndTwoFirstStartsGetTwoEks() throws Exception {
        ManufacturePool pool = pool(Map.of(TpmFamily.TPM2, 2));
        pool.start();
        awaitReady(pool, Map.of(TpmFamily.TPM2, 2));
        assertEquals(List.of(19, 19), niceOfPoolSwtpm, "each swtpm generating keys for the pool runs at nice 19");

        Set<BigInteger> eks = new HashSet<>();
        X509Certificate ca = LocalCa.loadOrCreate(tmp.resolve("ca")).certificate();
        for (int i = 0; i < 2; i++) {
            ManufacturePool.Entry entry = pool.take(TpmFamily.TPM2).orElseThrow();
            Endorsement ready = read(TpmFamily.TPM2, entry.permanent());
            assertTrue(ready.certificate().isEmpty(), "a ready-made TPM 2.0 has its EK but no certificate: no uuid yet");
            Uuid uuid = newUuid();
            Endorsement bound = read(TpmFamily.TPM2, bound(pool, entry, uuid));
            assertEquals(ready.publicKey(), bound.publicKey(), "binding issues a certificate, it makes no key");
            X509Certificate cert = bound.certificate().orElseThrow();
            assertEquals("CN=vtpm " + uuid.value(), cert.getSubjectX500Principal().getName());
            assertEquals(bound.publicKey(), cert.getPublicKey());
            cert.verify(ca.getPublicKey());
            eks.add(((RSAPublicKey) bound.publicKey()).getModulus());
        }
        assertEquals(2, eks.size(), "two first starts, two EKs");

        awaitReady(pool, Map.of(TpmFamily.TPM2, 2)); // refilled after the takes
        for (int i = 0; i < 2; i++) {
            eks.add(((RSAPublicKey) read(TpmFamily.TPM2, pool.take(TpmFamily.TPM2).orElseThrow().permanent()).publicKey()).getModulus());
        }
        assertEquals(4, eks.size(), "refills are new TPMs");
    }

    @Test
    void entriesAreSealedAndTheNextDaemonFindsThem() throws Exception {
        ManufacturePool first = pool(Map.of(TpmFamily.TPM2, 1, TpmFamily.TPM12, 1));
        first.start();
        awaitReady(first, Map.of(TpmFamily.TPM2, 1, TpmFamily.TPM12, 1));
        first.close();
        List<Path> files = poolFiles();
        assertEquals(2, files.size(), files.toString());
        List<byte[]> before = new ArrayList<>();
        for (Path f : files) {
            before.add(Files.readAllBytes(f));
        }

        ManufacturePool next = pool(Map.of(TpmFamily.TPM2, 1, TpmFamily.TPM12, 1));
        next.start();
        assertEquals(Map.of(TpmFamily.TPM2, 1, TpmFamily.TPM12, 1), next.readyCounts(), "found at once");
        assertEquals(2, niceOfPoolSwtpm.size(), "the next daemon made none");
        Set<BigInteger> moduli = new HashSet<>();
        for (TpmFamily family : TpmFamily.values()) {
            ManufacturePool.Entry entry = next.take(family).orElseThrow();
            BigInteger modulus = ((RSAPublicKey) read(family, entry.permanent()).publicKey()).getModulus();
            moduli.add(modulus);
            byte[] plain = toUnsigned(modulus);
            for (byte[] sealed : before) {
                assertEquals("VTPMBK", new String(sealed, 0, 6, java.nio.charset.StandardCharsets.US_ASCII), "a sealed file");
                assertFalse(contains(sealed, plain), "no EK modulus in clear on disk");
                assertFalse(contains(sealed, Arrays.copyOf(entry.permanent(), 64)), "no swtpm state in clear on disk");
            }
        }
        assertEquals(2, moduli.size());
    }

    @Test
    void aTakenEntryIsNeverOfferedAgainNotEvenAfterACrashBeforeItsVtpmWasStored() throws Exception {
        ManufacturePool pool = pool(Map.of(TpmFamily.TPM2, 1));
        pool.start();
        awaitReady(pool, Map.of(TpmFamily.TPM2, 1));
        Path file = poolFiles().get(0);
        byte[] copy = Files.readAllBytes(file);
        // the first start takes it, then the daemon dies before the vTPM is stored: no close, no store
        ManufacturePool.Entry taken = pool.take(TpmFamily.TPM2).orElseThrow();
        BigInteger takenEk = ((RSAPublicKey) read(TpmFamily.TPM2, taken.permanent()).publicKey()).getModulus();
        assertFalse(Files.exists(file), "taken: its file is gone");
        pool.close(); // only to stop its filler here; a crash stops it too
        // what a crash between the retired mark and the removal of the file leaves, or a copy put back
        Files.write(file, copy);

        ManufacturePool next = pool(Map.of(TpmFamily.TPM2, 1));
        next.start();
        assertFalse(Files.exists(file), "the next daemon removes what was taken");
        awaitReady(next, Map.of(TpmFamily.TPM2, 1));
        ManufacturePool.Entry offered = next.take(TpmFamily.TPM2).orElseThrow();
        assertNotEquals(taken.id(), offered.id());
        assertNotEquals(takenEk, ((RSAPublicKey) read(TpmFamily.TPM2, offered.permanent()).publicKey()).getModulus(),
                "the keys of a taken entry go to one uuid at most");
    }

    @Test
    void aTpm12EntryIsBoundToItsUuidByAnEkCertificateAndAnEmptyPoolGivesNothing() throws Exception {
        ManufacturePool pool = pool(Map.of(TpmFamily.TPM12, 1));
        pool.start();
        awaitReady(pool, Map.of(TpmFamily.TPM12, 1));
        assertTrue(pool.take(TpmFamily.TPM2).isEmpty(), "none of that family kept");
        ManufacturePool.Entry entry = pool.take(TpmFamily.TPM12).orElseThrow();
        assertTrue(pool.take(TpmFamily.TPM12).isEmpty(), "empty until refilled");
        Endorsement before = read(TpmFamily.TPM12, entry.permanent());
        assertEquals(TpmFamily.TPM12, before.family());
        assertTrue(before.certificate().isEmpty(), "a ready-made TPM 1.2 has its EK but no certificate: no uuid yet");
        Uuid uuid = newUuid();
        Endorsement after = read(TpmFamily.TPM12, bound(pool, entry, uuid));
        assertEquals(before.publicKey(), after.publicKey(), "binding issues a certificate, it makes no key");
        X509Certificate cert = after.certificate().orElseThrow(() -> new AssertionError("no EK certificate in NV 0x1000f000"));
        assertEquals("CN=vtpm " + uuid.value(), cert.getSubjectX500Principal().getName());
        assertEquals(after.publicKey(), cert.getPublicKey());
        cert.verify(LocalCa.loadOrCreate(tmp.resolve("ca")).certificate().getPublicKey());
    }

    @Test
    void aCloseKillsTheEntryBeingMadeAndLeavesNoPlaintext() throws Exception {
        ManufacturePool pool = pool(Map.of(TpmFamily.TPM2, 3));
        pool.start();
        long t0 = System.nanoTime();
        Thread.sleep(300); // swtpm started, keys being generated
        pool.close();
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(8).toNanos(), "a close does not wait for the pool to fill");
        assertTrue(Files.isDirectory(tmp.resolve("engines")), "an entry was being made");
        try (Stream<Path> left = Files.list(tmp.resolve("engines"))) {
            assertEquals(List.of(), left.toList(), "no runtime folder left (it held plaintext TPM state)");
        }
        for (Path f : poolFiles()) {
            assertTrue(new InstanceStore(tmp.resolve("pool"), MasterKey.loadOrCreate(tmp.resolve("master.key"),
                    tmp.resolve("instances"))).load(Uuid.parse(f.getFileName().toString().replace(InstanceStore.SUFFIX, ""))).isPresent(),
                    "every entry stored is whole");
        }
    }

    private static int nice(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ")[16]);
        } catch (Exception e) {
            throw new AssertionError("cannot read the nice value of pid " + pid, e);
        }
    }

    private static byte[] toUnsigned(BigInteger n) {
        byte[] b = n.toByteArray();
        return b[0] == 0 ? Arrays.copyOfRange(b, 1, b.length) : b;
    }

    private static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}
