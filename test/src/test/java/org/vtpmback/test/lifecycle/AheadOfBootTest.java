package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.assertOk;
import static org.vtpmback.test.lifecycle.GuestTpm.tpm12;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.Pem;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.CliRun;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Issue 12, provisioning ahead of boot: {@code vtpmback create}, run as an operator runs it (a JVM of its own
 * next to the running daemon, on the same state-dir), makes a vTPM whose guest's first start only boots it:
 * the daemon starts it from the stored record, manufactures nothing, and uses the stored family whatever its
 * own default is; what the guest reads from its TPM (2.0 or 1.2) is what {@code vtpmback ek} printed, and it
 * verifies against {@code vtpmback ca}.
 */
@UseSimulatedHost
@Timeout(240)
class AheadOfBootTest {
    private static final Pattern PEM_CERT = Pattern.compile("-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\\n");
    private static final Pattern PEM_KEY = Pattern.compile("-----BEGIN PUBLIC KEY-----([^-]+)-----END PUBLIC KEY-----");
    private static final int TPM_ORD_READ_PUBEK = 0x7C;

    @RegisterExtension
    final LogCapture logs = new LogCapture();

    /** {@code vtpmback <args>} in a JVM of its own, on the simulated host's state-dir and runtime-dir. */
    private static CliRun vtpmback(SimulatedVtpmHost host, String... args) throws Exception {
        Path work = host.work();
        List<String> settings = new ArrayList<>(List.of("state-dir=" + work.resolve("state"), "runtime-dir=" + work.resolve("run"),
                "log-level=warn"));
        // the daemon's jail and uid range (SimulatedVtpmHost.testJail): the command shares them, as on a host
        settings.addAll(DaemonProcess.jailSettings());
        List<String> cmd = CliRun.command(args[0], settings);
        cmd.addAll(List.of(args).subList(1, args.length));
        return CliRun.run(new ProcessBuilder(cmd), Duration.ofSeconds(120), String.join(" ", args));
    }

    private static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":\"([^\"]*)\"").matcher(json);
        assertTrue(m.find(), name + " in " + json);
        return m.group(1);
    }

    private static X509Certificate certificate(byte[] derOrPem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(derOrPem));
    }

    @Test
    void aVtpmCreatedAheadIsBootedFromItsRecordAndItsGuestReadsTheEkCertificateThatEkPrinted(SimulatedVtpmHost host)
            throws Exception {
        CliRun created = vtpmback(host, "create", "--json");
        assertEquals(0, created.status(), created.err());
        String uuid = field(created.out(), "uuid");
        assertEquals("2.0", field(created.out(), "family"));
        assertEquals(EndKind.NEW, GuestTpm.stored(host, uuid).lastEnd());

        int mark = logs.size();
        Guest g = host.boot(uuid);
        assertEquals(List.of(), logs.since(mark, "start mode MANUFACTURE"), "no second manufacture");
        assertEquals(List.of(), logs.since(mark, "manufactured RSA 2048 EK"), "no second manufacture");
        List<String> started = logs.since(mark, "start mode CLEAR");
        assertEquals(1, started.size(), logs.lines().toString());
        assertTrue(started.get(0).contains("booting the stored record, no manufacture"), started.get(0));
        assertEquals(EndKind.RUNNING, GuestTpm.stored(host, uuid).lastEnd());
        assertEquals(2, GuestTpm.stored(host, uuid).generation(), "the created record, then its first start");

        // what the guest reads from NV is what 'vtpmback ek' printed, and what 'create' fingerprinted
        Path der = host.work().resolve("guest-ek.der");
        g.tpm2("tpm2_nvread", "0x1c00002", "-C", "o", "-o", der.toString());
        X509Certificate inGuest = certificate(Files.readAllBytes(der));
        CliRun ek = vtpmback(host, "ek", uuid);
        assertEquals(0, ek.status(), ek.err());
        Matcher pem = PEM_CERT.matcher(ek.out());
        assertTrue(pem.find(), ek.out());
        assertEquals(inGuest, certificate(pem.group().getBytes(StandardCharsets.US_ASCII)));
        assertEquals(field(created.out(), "ek_certificate_sha256"), Pem.sha256(inGuest));

        // and it chains to the host's CA, as a verifier checks it
        CliRun ca = vtpmback(host, "ca");
        assertEquals(0, ca.status(), ca.err());
        PKIXParameters pkix = new PKIXParameters(Set.of(new TrustAnchor(certificate(ca.out().getBytes(StandardCharsets.US_ASCII)),
                null)));
        pkix.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(inGuest)),
                pkix);
    }

    @Test
    void aTpm12CreatedAheadStartsAsTpm12UnderADaemonWhoseDefaultIs20(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString(); // the daemon has no family for it: its default, 2.0, would apply
        CliRun created = vtpmback(host, "create", "--family", "1.2", uuid);
        assertEquals(0, created.status(), created.err());
        assertEquals(TpmFamily.TPM12, GuestTpm.stored(host, uuid).family());

        int mark = logs.size();
        Guest g = host.boot(uuid);
        List<String> started = logs.since(mark, "start mode CLEAR");
        assertEquals(1, started.size(), logs.lines().toString());
        assertTrue(started.get(0).contains("(TPM12, manufactured before its guest started)"), started.get(0));

        // a TPM 1.2 answers the guest: TPM_ReadPubek (no owner yet) gives the EK 'vtpmback ek' printed
        byte[] pubek = tpm12(g, TPM_ORD_READ_PUBEK, new byte[20]);
        assertOk(pubek, "TPM_ReadPubek");
        CliRun ek = vtpmback(host, "ek", uuid);
        assertEquals(0, ek.status(), ek.err());
        assertEquals("", ek.err(), "no note: it has an EK certificate");
        Matcher key = PEM_KEY.matcher(ek.out());
        assertTrue(key.find(), ek.out());
        RSAPublicKey printed = (RSAPublicKey) KeyFactory.getInstance("RSA")
                .generatePublic(new X509EncodedKeySpec(Base64.getMimeDecoder().decode(key.group(1))));
        assertEquals(printed.getModulus(), GuestTpm.pubekModulus(pubek));

        // its EK certificate, as the guest reads it from NV 0x1000f000 (TPM_NV_ReadValue, no owner secret), is the one
        // 'vtpmback ek' printed and 'create' fingerprinted, for that EK, and it chains to 'vtpmback ca'
        X509Certificate inGuest = GuestTpm.tpm12EkCertificate(g);
        Matcher pem = PEM_CERT.matcher(ek.out());
        assertTrue(pem.find(), ek.out());
        assertEquals(inGuest, certificate(pem.group().getBytes(StandardCharsets.US_ASCII)));
        assertTrue(created.out().contains("EK certificate SHA-256:   " + Pem.sha256(inGuest)), created.out());
        assertEquals(printed, inGuest.getPublicKey());
        assertEquals("CN=vtpm " + uuid, inGuest.getSubjectX500Principal().getName());
        CliRun ca = vtpmback(host, "ca");
        assertEquals(0, ca.status(), ca.err());
        PKIXParameters pkix = new PKIXParameters(Set.of(new TrustAnchor(certificate(ca.out().getBytes(StandardCharsets.US_ASCII)),
                null)));
        pkix.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(inGuest)),
                pkix);
    }
}
