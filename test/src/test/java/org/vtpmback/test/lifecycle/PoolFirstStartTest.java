package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.assertOk;
import static org.vtpmback.test.lifecycle.GuestTpm.tpm12;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.StagedManufacturer;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Issue 12, the pool of ready-made TPMs, through the daemon (real xenstored, real swtpm, the frontend emulator):
 * a first start takes a ready-made TPM and only binds it (its EK certificate names the uuid, TPM 2.0 and 1.2
 * alike), two first starts get two EKs, the pool refills, a daemon restart keeps it, and with the pool empty the
 * first start manufactures as before and says so.
 */
@UseSimulatedHost
@Timeout(300)
class PoolFirstStartTest {
    private static final Duration FILL = Duration.ofSeconds(120);

    @RegisterExtension
    final LogCapture logs = new LogCapture();

    private static void restartWithPool(SimulatedVtpmHost host, Map<TpmFamily, Integer> sizes) throws Exception {
        host.stopDaemon();
        host.pool(sizes).startDaemon();
    }

    private static void awaitPool(SimulatedVtpmHost host, Map<TpmFamily, Integer> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + FILL.toNanos();
        while (!wanted.entrySet().stream().allMatch(e -> host.instances().poolReady().getOrDefault(e.getKey(), 0) >= e.getValue())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("pool not at " + wanted + " within " + FILL + ": " + host.instances().poolReady());
            }
            Thread.sleep(50);
        }
    }

    /** The EK certificate in the guest's NV index 0x01c00002, as tpm2_nvread gives it. */
    private static X509Certificate ekCertificate(Guest g) throws Exception {
        Path der = g.work().resolve("ek-" + g.domid() + ".der");
        g.tpm2("tpm2_nvread", "0x1c00002", "-C", "o", "-o", der.toString());
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(Files.readAllBytes(der)));
    }

    private static String ekPublic(Guest g) throws Exception {
        return g.tpm2("tpm2_readpublic", "-c", "0x81010001");
    }

    @Test
    void twoFirstStartsTakeTwoReadyMadeTpmsWithTheirOwnEksAndThePoolRefills(SimulatedVtpmHost host) throws Exception {
        restartWithPool(host, Map.of(TpmFamily.TPM2, 2));
        awaitPool(host, Map.of(TpmFamily.TPM2, 2));
        int mark = logs.size();

        String a = UUID.randomUUID().toString();
        String b = UUID.randomUUID().toString();
        Guest ga = host.boot(a);
        Guest gb = host.boot(b);

        for (String uuid : List.of(a, b)) {
            assertEquals(1, logs.since(mark, "vTPM " + uuid + ": from the pool of ready-made TPMs (TPM2 entry").size(), logs.lines().toString());
            assertEquals(1, logs.since(mark, "vTPM " + uuid + ": start mode MANUFACTURE").size());
            assertEquals(EndKind.RUNNING, GuestTpm.stored(host, uuid).lastEnd());
        }
        assertEquals(List.of(), logs.since(mark, "manufactured RSA 2048 EK"), "no key generated while a guest waited");
        assertTrue(logs.since(mark, "bound and stored in").get(0).matches(".*started, bound and stored in \\d+ ms; pool: TPM2 \\d of 2 ready"),
                logs.since(mark, "bound and stored in").toString());
        assertNotEquals(ekPublic(ga), ekPublic(gb), "two first starts, two EKs");
        for (Guest g : List.of(ga, gb)) {
            X509Certificate cert = ekCertificate(g);
            assertEquals("CN=vtpm " + g.uuid(), cert.getSubjectX500Principal().getName(), "bound to its own uuid");
        }
        awaitPool(host, Map.of(TpmFamily.TPM2, 2)); // refilled after use
    }

    @Test
    void aDaemonRestartKeepsThePoolAndA12FirstStartTakesFromIt(SimulatedVtpmHost host) throws Exception {
        restartWithPool(host, Map.of(TpmFamily.TPM12, 1));
        awaitPool(host, Map.of(TpmFamily.TPM12, 1));
        List<String> entries = poolEntries(host);
        assertEquals(1, entries.size(), entries.toString());

        int mark = logs.size();
        restartWithPool(host, Map.of(TpmFamily.TPM12, 1));
        assertEquals(Map.of(TpmFamily.TPM2, 0, TpmFamily.TPM12, 1), host.instances().poolReady(), "found again, at once");
        assertEquals(List.of(), logs.since(mark, "pool: ready-made"), "nothing made again");

        String uuid = UUID.randomUUID().toString();
        host.family(uuid, TpmFamily.TPM12);
        Guest g = host.boot(uuid);
        assertEquals(1, logs.since(mark, "vTPM " + uuid + ": from the pool of ready-made TPMs (TPM12 entry " + entries.get(0)).size(),
                logs.lines().toString());
        assertEquals(TpmFamily.TPM12, GuestTpm.stored(host, uuid).family());
        byte[] pubek = tpm12(g, 0x7C, new byte[20]);
        assertOk(pubek, "TPM_ReadPubek: the ready-made EK is there");
        // bound to its uuid: the EK certificate in NV 0x1000f000, as the guest reads it (TPM_NV_ReadValue, no owner
        // secret), names the uuid, certifies the ready-made EK and verifies against the local CA
        X509Certificate cert = GuestTpm.tpm12EkCertificate(g);
        assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName(), "bound to its own uuid");
        assertEquals(GuestTpm.pubekModulus(pubek), ((java.security.interfaces.RSAPublicKey) cert.getPublicKey()).getModulus());
        cert.verify(GuestTpm.localCa(host).getPublicKey());
        assertEquals(1, logs.since(mark, "vTPM " + uuid + ": EK certificate serial").size(), logs.lines().toString());
        assertEquals(List.of(), poolEntries(host).stream().filter(entries::contains).toList(), "taken: gone from the pool");
    }

    @Test
    void withThePoolEmptyAFirstStartManufacturesAndSaysSo(SimulatedVtpmHost host) throws Exception {
        // the first entry is made at once; later ones wait until the test lets them: the pool stays empty meanwhile
        CountDownLatch refill = new CountDownLatch(1);
        AtomicInteger made = new AtomicInteger();
        StagedManufacturer real = new StandardManufacturer(host.work().resolve("state/ca"));
        host.manufacturer(new StagedManufacturer() {
            @Override
            public void makeKeys(TpmEngine engine, String what) {
                if (made.incrementAndGet() > 1) {
                    try {
                        refill.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException(e);
                    }
                }
                real.makeKeys(engine, what);
            }

            @Override
            public void bind(TpmEngine engine, Uuid uuid) {
                real.bind(engine, uuid);
            }

            @Override
            public boolean bindsIn(TpmFamily family) {
                return real.bindsIn(family);
            }

            @Override
            public void manufacture(TpmEngine engine, Uuid uuid) {
                real.manufacture(engine, uuid); // a first start with the pool empty: never held back
            }
        });
        try {
            restartWithPool(host, Map.of(TpmFamily.TPM2, 1));
            awaitPool(host, Map.of(TpmFamily.TPM2, 1));
            int mark = logs.size();
            String first = UUID.randomUUID().toString();
            host.boot(first);
            String second = UUID.randomUUID().toString();
            Guest g = host.boot(second);

            assertEquals(1, logs.since(mark, "vTPM " + first + ": from the pool").size(), logs.lines().toString());
            List<String> inline = logs.since(mark, "vTPM " + second + ": manufactured (TPM2) in ");
            assertEquals(1, inline.size(), logs.lines().toString());
            assertTrue(inline.get(0).matches(".*manufactured \\(TPM2\\) in \\d+ ms: the pool of ready-made TPM2 TPMs was empty"),
                    inline.get(0));
            assertEquals("CN=vtpm " + second, ekCertificate(g).getSubjectX500Principal().getName());
        } finally {
            refill.countDown();
        }
        awaitPool(host, Map.of(TpmFamily.TPM2, 1));
    }

    private static List<String> poolEntries(SimulatedVtpmHost host) throws Exception {
        try (Stream<Path> files = Files.list(host.work().resolve("state/pool"))) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".vtpm"))
                    .map(n -> n.substring(0, n.length() - ".vtpm".length())).sorted().toList();
        }
    }
}
