package org.vtpmback.backend.manufacture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.UUID;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;

/** The local EK CA: files, permissions, reload, refusal of damaged state, and the EK certificate profile. */
@Timeout(30)
class LocalCaTest {
    @TempDir
    Path tmp;

    private static PublicKey rsa2048() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        return g.generateKeyPair().getPublic();
    }

    @Test
    void createsKeyWith0600AndReloadsTheSameCa() throws Exception {
        Path dir = tmp.resolve("ca");
        LocalCa ca = LocalCa.loadOrCreate(dir);
        assertTrue(ca.created());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("ek-ca.key"))));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("ek-ca.crt"))));
        try (var s = Files.list(dir)) {
            assertEquals(2, s.count(), "no temp files left behind");
        }
        assertTrue(Files.readString(dir.resolve("ek-ca.key")).startsWith("-----BEGIN PRIVATE KEY-----"));

        X509Certificate c = ca.certificate();
        assertEquals(c.getSubjectX500Principal(), c.getIssuerX500Principal());
        assertTrue(c.getSubjectX500Principal().getName().startsWith("CN=vtpmback local EK CA,OU="),
                c.getSubjectX500Principal().getName());
        assertTrue(c.getBasicConstraints() >= 0);
        assertTrue(c.getCriticalExtensionOIDs().containsAll(List.of("2.5.29.19", "2.5.29.15")));
        assertArrayEquals(new boolean[] {false, false, false, false, false, true, true, false, false}, c.getKeyUsage());
        assertTrue(c.getNotAfter().getTime() - c.getNotBefore().getTime() > 19L * 365 * 86_400_000L);
        c.verify(c.getPublicKey());

        LocalCa again = LocalCa.loadOrCreate(dir);
        assertFalse(again.created(), "loaded, not made again");
        assertEquals(c, again.certificate());
        // the reloaded key signs certificates the original certificate verifies
        again.issueEkCertificate(rsa2048(), UUID.randomUUID().toString(), TpmFamily.TPM2).verify(c.getPublicKey());
    }

    @Test
    void corruptKeyFileIsAnErrorNamingThePathAndIsNotReplaced() throws Exception {
        Path dir = tmp.resolve("ca");
        LocalCa.loadOrCreate(dir);
        Path key = dir.resolve("ek-ca.key");
        Files.writeString(key, "-----BEGIN PRIVATE KEY-----\nnot base64 at all!!\n-----END PRIVATE KEY-----\n");
        ManufactureException e = assertThrows(ManufactureException.class, () -> LocalCa.loadOrCreate(dir));
        assertTrue(e.getMessage().contains(key.toString()), e.getMessage());
        assertTrue(Files.readString(key).contains("not base64"), "never silently re-created");

        Files.writeString(key, "garbage");
        e = assertThrows(ManufactureException.class, () -> LocalCa.loadOrCreate(dir));
        assertTrue(e.getMessage().contains(key.toString()), e.getMessage());
    }

    @Test
    void keyOfAnotherCaIsRejected() throws Exception {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        LocalCa.loadOrCreate(a);
        LocalCa.loadOrCreate(b);
        Files.copy(b.resolve("ek-ca.key"), a.resolve("ek-ca.key"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ManufactureException e = assertThrows(ManufactureException.class, () -> LocalCa.loadOrCreate(a));
        assertTrue(e.getMessage().contains(a.resolve("ek-ca.key").toString())
                && e.getMessage().contains("not the private key"), e.getMessage());
    }

    @Test
    void missingCertificateNextToAKeyIsRefused() throws Exception {
        Path dir = tmp.resolve("ca");
        LocalCa.loadOrCreate(dir);
        Files.delete(dir.resolve("ek-ca.crt"));
        ManufactureException e = assertThrows(ManufactureException.class, () -> LocalCa.loadOrCreate(dir));
        assertTrue(e.getMessage().contains(dir.resolve("ek-ca.crt").toString()), e.getMessage());
        assertFalse(Files.exists(dir.resolve("ek-ca.crt")));
    }

    @Test
    void ekCertificateFollowsTheTcgProfile() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(tmp.resolve("ca"));
        PublicKey ek = rsa2048();
        String uuid = UUID.randomUUID().toString();
        TpmIdentity id = new TpmIdentity("id:49424D00", "SW   TPM", "id:20191023", "2.0", 0, 164);
        X509Certificate c = ca.issueEkCertificate(ek, uuid, id);

        c.verify(ca.certificate().getPublicKey());
        assertEquals(3, c.getVersion());
        assertEquals(1, c.getSerialNumber().signum());
        assertEquals(16, c.getSerialNumber().toByteArray().length);
        assertEquals(ca.certificate().getSubjectX500Principal(), c.getIssuerX500Principal());
        assertEquals("CN=vtpm " + uuid, c.getSubjectX500Principal().getName());
        assertEquals(ek, c.getPublicKey());
        assertEquals(-1, c.getBasicConstraints());
        assertTrue(c.getKeyUsage()[2], "keyEncipherment");
        assertTrue(c.getCriticalExtensionOIDs().containsAll(List.of("2.5.29.19", "2.5.29.15")));
        assertEquals(List.of("2.23.133.8.1"), c.getExtendedKeyUsage());
        assertEquals(ca.certificate().getNotAfter(), c.getNotAfter());
        assertTrue(c.getNotBefore().getTime() <= System.currentTimeMillis());
        assertEquals("1.2.840.10045.4.3.2", c.getSigAlgOID()); // ecdsa-with-SHA256

        GeneralName san = GeneralNames.getInstance(
                ASN1OctetString.getInstance(c.getExtensionValue("2.5.29.17")).getOctets()).getNames()[0];
        assertEquals(GeneralName.directoryName, san.getTagNo());
        RDN[] rdns = X500Name.getInstance(san.getName()).getRDNs();
        assertEquals("2.23.133.2.1", rdns[0].getFirst().getType().getId());
        assertEquals("id:49424D00", rdns[0].getFirst().getValue().toString());
        assertEquals("SW   TPM", rdns[1].getFirst().getValue().toString());
        assertEquals("id:20191023", rdns[2].getFirst().getValue().toString());
        assertTrue(c.getNonCriticalExtensionOIDs().contains("2.5.29.9"), "subjectDirectoryAttributes");

        byte[] aki = AuthorityKeyIdentifier.getInstance(
                ASN1OctetString.getInstance(c.getExtensionValue("2.5.29.35")).getOctets()).getKeyIdentifierObject()
                .getOctets();
        byte[] ski = SubjectKeyIdentifier.getInstance(ASN1OctetString.getInstance(
                ca.certificate().getExtensionValue("2.5.29.14")).getOctets()).getKeyIdentifier();
        assertArrayEquals(ski, aki);
        assertTrue(new BigInteger(1, aki).signum() > 0);
    }

    @Test
    void malformedUuidIsRejected() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(tmp.resolve("ca"));
        PublicKey ek = rsa2048();
        assertThrows(IllegalArgumentException.class, () -> ca.issueEkCertificate(ek, "vm1,CN=evil", TpmFamily.TPM2));
    }
}
