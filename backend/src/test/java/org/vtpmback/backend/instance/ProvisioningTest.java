package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.EkReader;
import org.vtpmback.backend.manufacture.Endorsement;
import org.vtpmback.backend.manufacture.LocalCa;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.AlreadyStoredException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;

/**
 * A vTPM made ahead of its guest, on real swtpm: stored as a daemon's first start stores one, its EK read from
 * the new TPM and again from a copy of the stored one (the same), a uuid already stored refused before any key is
 * generated.
 */
@Timeout(120)
class ProvisioningTest {
    @TempDir
    Path tmp;

    private final AtomicInteger manufactured = new AtomicInteger();

    private Provisioning provisioning(InstanceStore store) {
        StandardManufacturer standard = new StandardManufacturer(tmp.resolve("ca"));
        Manufacturer counting = (engine, uuid) -> {
            manufactured.incrementAndGet();
            standard.manufacture(engine, uuid);
        };
        EngineBoot boot = new EngineBoot(new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run"))), tmp.resolve("cmd"));
        return new Provisioning(store, boot, counting);
    }

    private InstanceStore store() throws Exception {
        return new InstanceStore(tmp.resolve("instances"), MasterKey.loadOrCreate(tmp.resolve("master.key"), tmp.resolve("instances")));
    }

    @Test
    void aTpm2IsStoredNewAndItsEkCertificateIsTheOneInItsStoredState() throws Exception {
        InstanceStore store = store();
        Provisioning p = provisioning(store);
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        Provisioning.Created<Endorsement> created = p.create(uuid, TpmFamily.TPM2, EkReader::read);
        InstanceRecord record = store.load(uuid).orElseThrow();
        assertEquals(EndKind.NEW, record.lastEnd());
        assertEquals(TpmFamily.TPM2, record.family());
        assertEquals(1, record.generation());

        X509Certificate cert = created.inspected().certificate().orElseThrow();
        X509Certificate ca = LocalCa.loadOrCreate(tmp.resolve("ca")).certificate();
        cert.verify(ca.getPublicKey());
        assertEquals("CN=vtpm " + uuid.value(), cert.getSubjectX500Principal().getName());
        assertEquals(cert.getPublicKey(), created.inspected().publicKey());

        Endorsement stored = p.inspect(record, EkReader::read);
        assertEquals(cert, stored.certificate().orElseThrow(), "the stored state holds the certificate just issued");
        assertEquals(created.inspected().publicKey(), stored.publicKey());
        assertEquals(created.inspected().certificateSha256(), stored.certificateSha256());
        assertTrue(stored.certificateMatchesKey());
        assertEquals(1, manufactured.get());
        try (var left = Files.list(tmp.resolve("cmd"))) {
            assertEquals(0, left.count(), "no engine folder left behind (it held plaintext TPM state)");
        }
    }

    @Test
    void aTpm12IsStoredWithItsFamilyAndItsEkCertificateIsTheOneInItsStoredState() throws Exception {
        InstanceStore store = store();
        Provisioning p = provisioning(store);
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        Endorsement made = p.create(uuid, TpmFamily.TPM12, EkReader::read).inspected();
        InstanceRecord record = store.load(uuid).orElseThrow();
        assertEquals(TpmFamily.TPM12, record.family());
        X509Certificate cert = made.certificate().orElseThrow(() -> new AssertionError("no EK certificate in NV 0x1000f000"));
        cert.verify(LocalCa.loadOrCreate(tmp.resolve("ca")).certificate().getPublicKey());
        assertEquals("CN=vtpm " + uuid.value(), cert.getSubjectX500Principal().getName());
        Endorsement stored = p.inspect(record, EkReader::read);
        assertEquals(TpmFamily.TPM12, stored.family());
        assertEquals(made.publicKey(), stored.publicKey());
        assertEquals(cert, stored.certificate().orElseThrow(), "the stored state holds the certificate just issued");
        assertTrue(stored.certificateMatchesKey());
        assertTrue(stored.publicKeyPem().startsWith("-----BEGIN PUBLIC KEY-----"), stored.publicKeyPem());
    }

    /**
     * The longest paths a command's swtpm sockets get: runtime-dir at the configuration's limit (50 bytes), the
     * command's folder {@code c<pid>} with the largest pid Linux gives (pid_max is at most 2^22: 7 digits), then
     * {@code <uuid>.new} for create and {@code <uuid>.read} for the copy ek reads: 105 and 106 bytes, and a socket
     * path may have 106 (Java's limit). Both work on real swtpm.
     */
    @Test
    void createAndInspectWorkAtTheLongestSocketPathsACommandCanHave() throws Exception {
        Path runtimeDir = tmp.resolve("r".repeat(50 - tmp.toString().length() - 1));
        assertEquals(50, runtimeDir.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        Path commandFolder = runtimeDir.resolve("c4194303");
        EngineBoot boot = new EngineBoot(new SwtpmLauncher(SwtpmConfig.defaults(runtimeDir)), commandFolder);
        InstanceStore store = store();
        Provisioning p = new Provisioning(store, boot, new StandardManufacturer(tmp.resolve("ca")));
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        assertEquals(105, boot.blankFolderOf(uuid.value()).resolve("ctrl").toString().length());
        assertEquals(106, boot.copyFolderOf(uuid.value()).resolve("ctrl").toString().length());

        Endorsement made = p.create(uuid, TpmFamily.TPM2, EkReader::read).inspected();
        Endorsement read = p.inspect(store.load(uuid).orElseThrow(), EkReader::read);
        assertEquals(made.certificate(), read.certificate());
    }

    @Test
    void aStoredUuidIsRefusedBeforeAnyKeyIsGenerated() throws Exception {
        InstanceStore store = store();
        Provisioning p = provisioning(store);
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        p.create(uuid, TpmFamily.TPM2, e -> null);
        byte[] before = Files.readAllBytes(store.fileOf(uuid));
        AlreadyStoredException e = assertThrows(AlreadyStoredException.class, () -> p.create(uuid, TpmFamily.TPM12, x -> null));
        assertTrue(e.getMessage().contains(uuid.value()), e.getMessage());
        assertEquals(1, manufactured.get(), "refused before a second manufacture");
        assertEquals(java.util.Arrays.toString(before), java.util.Arrays.toString(Files.readAllBytes(store.fileOf(uuid))));
    }
}
