package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.manufacture.LocalCa;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * Manufacture as the guest sees it: its EK certificate, read from NV (TPM 2.0 with tpm2-tools, TPM 1.2 with
 * TPM_NV_ReadValue), verifies against the host's local CA.
 */
@UseSimulatedHost
@Timeout(180)
class ManufacturedEkCertificateTest {
    @Test
    void theEkCertificateInTheGuestsNvVerifiesAgainstTheLocalCa(SimulatedVtpmHost host) throws Exception {
        Path work = host.work();
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        X509Certificate cert = readEkCert(g, work.resolve("ek-1.der"));
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509Certificate ca;
        try (InputStream in = Files.newInputStream(work.resolve("state/ca").resolve(LocalCa.CERT_FILE))) {
            ca = (X509Certificate) cf.generateCertificate(in);
        }
        cert.verify(ca.getPublicKey()); // throws SignatureException if not signed by the local CA
        assertEquals(ca.getSubjectX500Principal(), cert.getIssuerX500Principal());
        cert.checkValidity();

        // The certificate is for the EK this TPM really has: same RSA modulus as the EK at 0x81010001.
        Path ekPem = work.resolve("ek.pem");
        g.tpm2("tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", ekPem.toString());
        String pem = Files.readString(ekPem).replaceAll("-----[A-Z ]+-----|\\s", "");
        java.security.PublicKey ek = java.security.KeyFactory.getInstance("RSA")
                .generatePublic(new java.security.spec.X509EncodedKeySpec(java.util.Base64.getDecoder().decode(pem)));
        assertEquals(ek, cert.getPublicKey());

        // Manufactured once: after a reboot it is the same certificate.
        g.shutdown(ShutdownReason.REBOOT);
        GuestTpm.awaitEnded(host, uuid);
        g = host.boot(uuid);
        assertEquals(cert, readEkCert(g, work.resolve("ek-2.der")));
        assertTrue(cert.getSubjectX500Principal().getName().isEmpty() || cert.getSubjectAlternativeNames() != null
                || cert.getExtensionValue("2.5.29.17") != null, "TCG EK certificates carry the TPM identity in the SAN");
    }

    /**
     * A TPM 1.2 manufactured at its first start (no pool: inline): its guest reads the EK certificate from NV
     * 0x1000f000 with TPM_NV_ReadValue and no owner secret; it verifies against the local CA, names the uuid, and
     * certifies the EK TPM_ReadPubek gives; a reboot keeps it.
     */
    @Test
    void aTpm12GuestReadsItsEkCertificateFromNv0x1000f000AndItVerifiesAgainstTheLocalCa(SimulatedVtpmHost host)
            throws Exception {
        String uuid = UUID.randomUUID().toString();
        host.family(uuid, org.vtpmback.backend.engine.TpmFamily.TPM12);
        Guest g = host.boot(uuid);
        X509Certificate cert = GuestTpm.tpm12EkCertificate(g);
        X509Certificate ca = GuestTpm.localCa(host);
        cert.verify(ca.getPublicKey());
        assertEquals(ca.getSubjectX500Principal(), cert.getIssuerX500Principal());
        cert.checkValidity();
        assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());
        byte[] pubek = GuestTpm.tpm12(g, 0x7C, new byte[20]);
        GuestTpm.assertOk(pubek, "TPM_ReadPubek");
        assertEquals(GuestTpm.pubekModulus(pubek), ((java.security.interfaces.RSAPublicKey) cert.getPublicKey()).getModulus(),
                "the certificate is for the EK this TPM has");

        g.shutdown(ShutdownReason.REBOOT);
        GuestTpm.awaitEnded(host, uuid);
        g = host.boot(uuid);
        assertEquals(cert, GuestTpm.tpm12EkCertificate(g), "manufactured once: the same certificate after a reboot");
    }

    private static X509Certificate readEkCert(Guest g, Path der) throws Exception {
        g.tpm2("tpm2_nvread", "0x1c00002", "-C", "o", "-o", der.toString());
        try (InputStream in = Files.newInputStream(der)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}
