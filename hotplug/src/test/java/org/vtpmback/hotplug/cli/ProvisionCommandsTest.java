package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.Pem;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;

/**
 * {@code create}, {@code ek} and {@code ca} as an operator runs them, on real swtpm (jailed when run as root, as the
 * daemon's): what is stored, what is printed, that the EK certificate verifies against the CA, and every refusal
 * with its exit status.
 */
@Timeout(180)
class ProvisionCommandsTest {
    private static final Pattern UUID_LINE = Pattern.compile("created vTPM ([0-9a-f-]{36}) \\(TPM (2\\.0|1\\.2)\\)");
    private static final Pattern CERT_PEM = Pattern.compile("-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\\n");

    @TempDir
    Path tmp;
    Path host;

    record Run(int status, String out, String err) {
    }

    @BeforeEach
    void setUp() throws Exception {
        host = tmp.resolve("host");
        MasterKey.create(privateDir(host.resolve("state")).resolve("master.key"));
    }

    /** A state-dir as 'vtpmback init' makes it (0700): the daemon and 'ca' refuse one open to others. */
    private static Path privateDir(Path dir) throws java.io.IOException {
        return Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    private Run run(Path on, String... args) {
        List<String> all = new ArrayList<>(List.of(args[0]));
        List<String> settings = new ArrayList<>(List.of("state-dir=" + on.resolve("state"), "runtime-dir=" + on.resolve("run"),
                "log-level=warn"));
        if (isRoot()) {
            // this JVM's own uid range, as the test module's daemons use: a daemon kills every process in its range
            settings.add("swtpm-uid-base=" + (SwtpmJail.DEFAULT_FIRST_UID + SwtpmJail.DEFAULT_UID_COUNT
                    * (int) (1 + ProcessHandle.current().pid() % 4096)));
        } else {
            settings.add("swtpm-jail=no");
        }
        for (String s : settings) {
            all.add("--set");
            all.add(s);
        }
        all.addAll(List.of(args).subList(1, args.length));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(all.toArray(String[]::new), o, e, stop -> () -> { });
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    private InstanceStore store() throws Exception {
        return InstanceStore.shared(host.resolve("state/instances"), MasterKey.load(host.resolve("state/master.key")));
    }

    private static X509Certificate certificate(String pem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void createStoresANewTpm2WhoseEkCertificateVerifiesAgainstTheCa() throws Exception {
        Run created = run(host, "create");
        assertEquals(0, created.status(), created.err());
        System.out.print(created.out());
        Matcher m = UUID_LINE.matcher(created.out());
        assertTrue(m.find(), created.out());
        Uuid uuid = Uuid.parse(m.group(1));
        assertEquals("2.0", m.group(2), "default-tpm-family");
        assertTrue(created.out().contains("vtpm=[\"backend=0,uuid=" + uuid + "\"]"), created.out());
        InstanceRecord r = store().load(uuid).orElseThrow();
        assertEquals(EndKind.NEW, r.lastEnd());
        assertEquals(TpmFamily.TPM2, r.family());
        assertTrue(run(host, "list").out().contains(uuid + "  2.0              1  NEW "), run(host, "list").out());

        Run ek = run(host, "ek", uuid.value());
        assertEquals(0, ek.status(), ek.err());
        assertTrue(ek.out().startsWith("-----BEGIN PUBLIC KEY-----\n"), ek.out());
        Matcher pem = CERT_PEM.matcher(ek.out());
        assertTrue(pem.find(), ek.out());
        X509Certificate cert = certificate(pem.group());
        assertTrue(created.out().contains("EK certificate SHA-256:   " + Pem.sha256(cert)), "create printed its fingerprint");
        Run ca = run(host, "ca");
        assertEquals(0, ca.status(), ca.err());
        X509Certificate root = certificate(ca.out());
        // as a verifier does: a PKIX path from the EK certificate to the CA as trust anchor
        PKIXParameters pkix = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        pkix.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(cert)), pkix);
        assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());
        assertEquals(root.getSubjectX500Principal(), cert.getIssuerX500Principal());
        try (var left = Files.list(host.resolve("run"))) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith("c")).toList(),
                    "no command folder left (it held plaintext TPM state)");
        }
    }

    @Test
    void createOfTpm12StoresTheFamilyAndAnEkCertificateThatEkPrintsAndThatVerifiesAgainstTheCa() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Run created = run(host, "create", "--family", "1.2", "--json", uuid);
        assertEquals(0, created.status(), created.err());
        String out = created.out().strip();
        assertTrue(out.startsWith("{\"uuid\":\"" + uuid + "\",\"family\":\"1.2\",\"generation\":1,\"file\":\""), out);
        assertTrue(out.contains("\"xl_vtpm\":\"backend=0,uuid=" + uuid + "\",\"ek_certificate_sha256\":\""), out);
        assertEquals(TpmFamily.TPM12, store().load(new Uuid(uuid)).orElseThrow().family());
        String certSha = out.replaceAll(".*\"ek_certificate_sha256\":\"([0-9A-F:]+)\".*", "$1");
        String keySha = out.replaceAll(".*\"ek_public_key_sha256\":\"([0-9A-F:]+)\".*", "$1");

        Run ek = run(host, "ek", "--json", uuid);
        assertEquals(0, ek.status(), ek.err());
        assertTrue(ek.out().contains("\"family\":\"1.2\""), ek.out());
        assertTrue(ek.out().contains("\"public_key_sha256\":\"" + keySha + "\""), "the stored TPM holds the EK just made");
        assertTrue(ek.out().contains("\"certificate_sha256\":\"" + certSha + "\""), ek.out());
        assertEquals("", ek.err(), "no note: it has a certificate");

        Run pem = run(host, "ek", uuid);
        assertEquals(0, pem.status(), pem.err());
        Matcher m = CERT_PEM.matcher(pem.out());
        assertTrue(m.find(), pem.out());
        X509Certificate cert = certificate(m.group());
        assertEquals(certSha, Pem.sha256(cert), "create printed its fingerprint");
        assertEquals(keySha, Pem.sha256(cert.getPublicKey()), "it certifies the EK");
        assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());
        X509Certificate root = certificate(run(host, "ca").out());
        PKIXParameters pkix = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        pkix.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(cert)), pkix);
    }

    /**
     * An operator enrolls the host before any vTPM exists: {@code ca} makes the local CA exactly as the daemon would
     * (its files and modes), says so once, and the vTPMs made afterwards chain to it.
     */
    @Test
    void caBeforeTheFirstVtpmCreatesTheLocalCaThatVtpmsThenChainTo() throws Exception {
        Path ca = host.resolve("state/ca");
        assertFalse(Files.exists(ca));
        Run first = run(host, "ca");
        assertEquals(0, first.status(), first.err());
        assertTrue(first.err().contains("note: this host had no EK CA: created one in " + ca), first.err());
        X509Certificate root = certificate(first.out());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(ca)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(ca.resolve("ek-ca.key"))));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(ca.resolve("ek-ca.crt"))));

        Run again = run(host, "ca", "--json");
        assertEquals(0, again.status(), again.err());
        assertEquals("", again.err(), "made once");
        assertTrue(again.out().contains("\"created\":false"), again.out());
        assertTrue(again.out().contains("\"sha256\":\"" + Pem.sha256(root) + "\""), "the same CA: " + again.out());

        Run created = run(host, "create", "--family", "1.2");
        assertEquals(0, created.status(), created.err());
        Matcher m = UUID_LINE.matcher(created.out());
        assertTrue(m.find(), created.out());
        Matcher pem = CERT_PEM.matcher(run(host, "ek", m.group(1)).out());
        assertTrue(pem.find());
        certificate(pem.group()).verify(root.getPublicKey());

        // a host where nothing was set up yet: state-dir is made private too, as the daemon makes it
        Path bare = tmp.resolve("bare");
        Run onBare = run(bare, "ca");
        assertEquals(0, onBare.status(), onBare.err());
        assertTrue(onBare.err().contains("created one in " + bare.resolve("state/ca")), onBare.err());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(bare.resolve("state"))));
        assertFalse(Files.exists(bare.resolve("state/master.key")), "ca makes no master key");
    }

    @Test
    void aDamagedCaIsNeverReplacedByCa() throws Exception {
        assertEquals(0, run(host, "ca").status());
        Files.delete(host.resolve("state/ca/ek-ca.crt"));
        Run damaged = run(host, "ca");
        assertEquals(1, damaged.status(), damaged.out());
        assertTrue(damaged.err().contains("incomplete EK CA"), damaged.err());
        assertFalse(Files.exists(host.resolve("state/ca/ek-ca.crt")), "no new CA over the remaining key");
    }

    /**
     * The longest runtime-dir the configuration accepts (50 bytes): {@code ek} starts its copy of the TPM in a folder
     * of its own there, whose swtpm sockets must still fit an AF_UNIX path (at most 106 bytes from Java).
     */
    @Test
    void createAndEkWorkWithTheLongestRuntimeDir() throws Exception {
        Path longHost = tmp.resolve("h");
        int pad = 50 - longHost.resolve("run").toString().getBytes(StandardCharsets.UTF_8).length;
        assertTrue(pad > 0, "temp folder too long for this test: " + tmp);
        longHost = tmp.resolve("h" + "x".repeat(pad));
        assertEquals(50, longHost.resolve("run").toString().getBytes(StandardCharsets.UTF_8).length);
        MasterKey.create(privateDir(longHost.resolve("state")).resolve("master.key"));
        String uuid = UUID.randomUUID().toString();

        Run created = run(longHost, "create", uuid);
        assertEquals(0, created.status(), created.err());
        Run ek = run(longHost, "ek", uuid);
        assertEquals(0, ek.status(), ek.err());
        assertTrue(ek.out().startsWith("-----BEGIN PUBLIC KEY-----\n"), ek.out());
        assertTrue(CERT_PEM.matcher(ek.out()).find(), ek.out());
    }

    @Test
    void refusals() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Run missing = run(host, "ek", uuid);
        assertEquals(1, missing.status());
        assertTrue(missing.err().contains("no stored vTPM " + uuid), missing.err());

        assertEquals(0, run(host, "create", uuid).status());
        byte[] before = Files.readAllBytes(store().fileOf(new Uuid(uuid)));
        Run again = run(host, "create", "--family", "1.2", uuid);
        assertEquals(1, again.status(), again.out());
        assertTrue(again.err().contains("vTPM " + uuid + " is already stored (") && again.err().contains("nothing was created"),
                again.err());
        assertEquals(List.of(), List.of(again.out().split("\n")).stream().filter(l -> !l.isEmpty()).toList());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(store().fileOf(new Uuid(uuid)))), "unchanged");

        Run badFamily = run(host, "create", "--family", "2", UUID.randomUUID().toString());
        assertEquals(2, badFamily.status());
        assertTrue(badFamily.err().contains("bad value for --family: '2' is not a TPM family (2.0 or 1.2)"), badFamily.err());
        Run badUuid = run(host, "create", "guest1");
        assertEquals(2, badUuid.status());

        String configured = UUID.randomUUID().toString();
        Run contradicts = run(host, "create", "--family", "2.0", "--set", "tpm-family." + configured + "=1.2", configured);
        assertEquals(1, contradicts.status());
        assertTrue(contradicts.err().contains("--family 2.0 contradicts the configuration's tpm-family." + configured + " = 1.2"),
                contradicts.err());

        String running = UUID.randomUUID().toString();
        Files.createDirectories(host.resolve("run/instances/" + running));
        Run inUse = run(host, "create", running);
        assertEquals(1, inUse.status());
        assertTrue(inUse.err().contains("is in use by the daemon"), inUse.err());

        Path fresh = tmp.resolve("fresh");
        Run noKey = run(fresh, "create");
        assertEquals(1, noKey.status());
        assertTrue(noKey.err().contains("run 'vtpmback init' first"), noKey.err());
        assertFalse(Files.exists(fresh.resolve("state/master.key")), "a command never makes a master key");
    }
}
