package org.vtpmback.backend.manufacture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.manufacture.TpmFixture.modulus;
import static org.vtpmback.backend.manufacture.TpmFixture.nvAttributes;
import static org.vtpmback.backend.manufacture.TpmFixture.nvDataSize;
import static org.vtpmback.backend.manufacture.TpmFixture.nvReadPublic;
import static org.vtpmback.backend.manufacture.TpmFixture.nvWrite;
import static org.vtpmback.backend.manufacture.TpmFixture.rc;
import static org.vtpmback.backend.manufacture.TpmFixture.readNv;
import static org.vtpmback.backend.manufacture.TpmFixture.readPublic;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/** Manufacturing real swtpm TPMs: EK, EK certificate in NV, persistence, refusal; TPM 2.0 and TPM 1.2. */
@Timeout(60)
class EkManufacturerTest {
    private static final int EK = 0x81010001;
    private static final int NV = 0x01C00002;
    /** What swtpm_setup 0.7.1 --lock-nvram leaves (tpm2_nvreadpublic on its state): attributes + WRITTEN|WRITELOCKED. */
    private static final int LOCKED_ATTRIBUTES = 0x62072801;
    private static final int TPM_RC_NV_LOCKED = 0x148;
    private static final int TPM_RC_NV_AUTHORIZATION = 0x149;
    // TPM 1.2 Part 2 §16
    private static final int TPM_BADINDEX = 0x02;
    private static final int TPM_AREA_LOCKED = 0x3C;

    @TempDir
    Path tmp;
    private LocalCa ca;
    private final String uuid = UUID.randomUUID().toString();

    @BeforeEach
    void ca() {
        ca = LocalCa.loadOrCreate(tmp.resolve("ca"));
    }

    private static X509Certificate parse(byte[] der) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
    }

    /** Reads the certificate back with raw NV_ReadPublic + chunked NV_Read and checks everything it says. */
    private X509Certificate readBackAndCheck(TpmEngine e) throws Exception {
        byte[] pub = e.execute(0, nvReadPublic(NV));
        assertEquals(0, rc(pub));
        assertEquals(LOCKED_ATTRIBUTES, nvAttributes(pub), Integer.toHexString(nvAttributes(pub)));
        byte[] der = readNv(e, NV, nvDataSize(pub), 500);
        X509Certificate cert = parse(der);
        cert.verify(ca.certificate().getPublicKey());
        cert.checkValidity();
        assertEquals(List.of("2.23.133.8.1"), cert.getExtendedKeyUsage());
        assertEquals(ca.certificate().getNotAfter(), cert.getNotAfter());
        assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());

        byte[] ekPublic = e.execute(0, readPublic(EK));
        assertEquals(0, rc(ekPublic), "EK persistent at 0x81010001");
        RSAPublicKey certKey = (RSAPublicKey) cert.getPublicKey();
        assertEquals(new BigInteger(1, modulus(ekPublic)), certKey.getModulus());
        assertEquals(BigInteger.valueOf(65537), certKey.getPublicExponent());
        return cert;
    }

    @Test
    void manufacturesAFreshTpm2() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            assertFalse(EkManufacturer.isManufactured(e));
            assertEquals(0x18B, rc(e.execute(0, readPublic(EK))) & 0xFBF, "no EK before");

            X509Certificate issued = new EkManufacturer().manufacture(e, uuid, ca);

            assertTrue(EkManufacturer.isManufactured(e));
            assertEquals(issued, readBackAndCheck(e));
            // only the EK is left: the transient primary was flushed
            // TPM2_GetCapability(TPM_CAP_HANDLES, TRANSIENT_FIRST, 16): no handles listed
            byte[] handles = e.execute(0, hex("800100000016" + "0000017a" + "00000001" + "80000000" + "00000010"));
            assertEquals(0, rc(handles));
            assertEquals(0, java.nio.ByteBuffer.wrap(handles).getInt(10 + 1 + 4), "transient handles left");
        }
    }

    @Test
    void ekIsTheOneAVerifierRecreatesFromTemplateL1() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            X509Certificate cert = new EkManufacturer().manufacture(e, uuid, ca);
            Tpm2Client tpm = new Tpm2Client(e);
            int again = tpm.createPrimary(Tpm2Marshal.TPM_RH_ENDORSEMENT, EkTemplate.rsa2048());
            RSAPublicKey recreated = EkTemplate.publicKey(tpm.readPublic(again).orElseThrow());
            tpm.flushContext(again);
            assertEquals(cert.getPublicKey(), recreated);
        }
    }

    @Test
    void manufacturedStateSurvivesAReboot() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine first = f.booted("vm", TpmFamily.TPM2);
            X509Certificate issued = new EkManufacturer().manufacture(first, uuid, ca);
            first.close();

            TpmEngine second = f.booted("vm", TpmFamily.TPM2);
            assertTrue(EkManufacturer.isManufactured(second));
            assertEquals(issued, readBackAndCheck(second));
        }
    }

    @Test
    void inTwoStagesTheCertificateIsForTheEkMadeBeforeAndNamesTheUuidKnownOnlyLater() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            assertThrows(ManufactureException.class, () -> new EkManufacturer().certify(e, uuid, ca), "no EK yet");
            RSAPublicKey ek = new EkManufacturer().createEk(e, "pool entry");
            assertFalse(EkManufacturer.isManufactured(e), "an EK, no certificate yet");
            X509Certificate cert = new EkManufacturer().certify(e, uuid, ca);
            assertEquals(ek, cert.getPublicKey());
            assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());
            assertTrue(EkManufacturer.isManufactured(e));
            assertEquals(cert, readBackAndCheck(e));
            ManufactureException again = assertThrows(ManufactureException.class, () -> new EkManufacturer().certify(e, uuid, ca));
            assertTrue(again.getMessage().contains("already"), again.getMessage());
        }
    }

    @Test
    void secondManufactureIsRefused() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            new EkManufacturer().manufacture(e, uuid, ca);
            ManufactureException ex = assertThrows(ManufactureException.class,
                    () -> new EkManufacturer().manufacture(e, uuid, ca));
            assertTrue(ex.getMessage().contains("already"), ex.getMessage());
        }
    }

    @Test
    void certificateIndexCannotBeOverwritten() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            new EkManufacturer().manufacture(e, uuid, ca);
            // owner: no OWNERWRITE; platform: permanently write-locked (WRITEDEFINE)
            int owner = rc(e.execute(0, nvWrite(0x40000001, NV, new byte[] {1})));
            assertTrue(owner == TPM_RC_NV_LOCKED || owner == TPM_RC_NV_AUTHORIZATION, Integer.toHexString(owner));
            assertEquals(TPM_RC_NV_LOCKED, rc(e.execute(0, nvWrite(0x4000000C, NV, new byte[] {1}))));
            // AUTHREAD with the index's empty auth, as tpm2_nvread without -C does
            assertEquals(0, rc(e.execute(0, TpmFixture.nvRead(NV, NV, 16, 0))));
        }
    }

    @Test
    void withoutLockTheOwnerStillCannotWrite() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            new EkManufacturer(false).manufacture(e, uuid, ca);
            byte[] pub = e.execute(0, nvReadPublic(NV));
            assertEquals(LOCKED_ATTRIBUTES & ~0x800, nvAttributes(pub), "written, not locked");
            assertEquals(TPM_RC_NV_AUTHORIZATION, rc(e.execute(0, nvWrite(0x40000001, NV, new byte[] {1}))));
        }
    }

    @Test
    void failedCommandIsNamedWithItsResponseCode() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            e.initClear(); // _TPM_Init without Startup: every command answers TPM_RC_INITIALIZE
            ManufactureException ex = assertThrows(ManufactureException.class,
                    () -> new EkManufacturer().manufacture(e, uuid, ca));
            assertEquals(0x100, ex.responseCode());
            assertTrue(ex.getMessage().contains("TPM2_ReadPublic(0x81010001)") && ex.getMessage().contains("0x100"),
                    ex.getMessage());
        }
    }

    @Test
    void manufacturesATpm12WithItsEkCertificateWhereAGuestReadsIt() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm12", TpmFamily.TPM12);
            assertFalse(EkManufacturer.isManufactured(e));
            X509Certificate issued = new EkManufacturer().manufacture(e, uuid, ca);
            assertTrue(EkManufacturer.isManufactured(e));

            X509Certificate cert = readTpm12Certificate(e);
            assertEquals(issued, cert);
            cert.verify(ca.certificate().getPublicKey());
            cert.checkValidity();
            assertEquals("CN=vtpm " + uuid, cert.getSubjectX500Principal().getName());
            assertEquals(List.of("2.23.133.8.1"), cert.getExtendedKeyUsage());
            assertTrue(cert.getKeyUsage()[2], "keyEncipherment");
            assertEquals(Tpm12Endorsement.readPubek(e).orElseThrow(), cert.getPublicKey(), "the EK TPM_ReadPubek gives");
            assertTrue(new String(cert.getExtensionValue("2.5.29.9"), java.nio.charset.StandardCharsets.ISO_8859_1).contains("1.2"),
                    "TPMSpecification family 1.2 in subjectDirectoryAttributes");

            // TPM_NV_DATA_PUBLIC: permissions TPM_NV_PER_WRITEDEFINE only (no read restriction), bWriteDefine set
            byte[] pub = e.execute(0, TpmFixture.nvIndexCapability12(0x1000F000));
            assertEquals(0, rc(pub));
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(pub, 14, pub.length - 14);
            assertEquals(0x0018, b.getShort());
            assertEquals(0x1000F000, b.getInt());
            b.position(b.position() + 2 * 26 + 2);
            assertEquals(0x00002000, b.getInt(), "permissions");
            b.get();
            b.get();
            assertEquals(1, b.get(), "bWriteDefine: written once, locked");

            ManufactureException again = assertThrows(ManufactureException.class, () -> new EkManufacturer().manufacture(e, uuid, ca));
            assertTrue(again.getMessage().contains("already") && again.getMessage().contains("0x1000f000"), again.getMessage());
            assertThrows(ManufactureException.class, () -> new EkManufacturer().certify(e, uuid, ca));
        }
    }

    /** As a TPM 1.2 guest's tools read it: TPM_NV_ReadValue, no authorization, the stored-certificate header first. */
    private static X509Certificate readTpm12Certificate(TpmEngine e) throws Exception {
        byte[] header = TpmFixture.nvReadData12(e.execute(0, TpmFixture.nvReadValue12(0x1000F000, 0, 7)));
        java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(header);
        assertEquals(0x1001, h.getShort(0), "TCG_TAG_PCCLIENT_STORED_CERT");
        assertEquals(0, h.get(2), "certType: full certificate");
        assertEquals(0x1002, h.getShort(5), "TCG_TAG_PCCLIENT_FULL_CERT");
        int size = Short.toUnsignedInt(h.getShort(3)) - 2;
        return parse(TpmFixture.nvReadData12(e.execute(0, TpmFixture.nvReadValue12(0x1000F000, 7, size))));
    }

    @Test
    void aTpm12InTwoStagesGetsItsCertificateForTheEkMadeBefore() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm12", TpmFamily.TPM12);
            RSAPublicKey ek = new EkManufacturer().createEk(e, "pool entry");
            assertEquals(2048, ek.getModulus().bitLength());
            assertFalse(EkManufacturer.isManufactured(e), "an EK, no certificate yet");
            ManufactureException twice = assertThrows(ManufactureException.class, () -> new EkManufacturer().createEk(e, "x"));
            assertEquals(0x08, twice.responseCode(), "TPM_DISABLED_CMD: the EK exists");
            X509Certificate cert = new EkManufacturer().certify(e, uuid, ca);
            assertEquals(ek, cert.getPublicKey());
            assertTrue(EkManufacturer.isManufactured(e));
            assertEquals(cert, readTpm12Certificate(e));
        }
    }

    @Test
    void aTpm12CertificateCannotBeRewrittenOrDeletedOnceTheGuestLocksNv() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm12", TpmFamily.TPM12);
            X509Certificate cert = new EkManufacturer().manufacture(e, uuid, ca);
            // as platform firmware does: enable and activate with physical presence (swtpm_setup's run_swtpm_bios),
            // restart, lock NV
            assertEquals(0, rc(e.execute(0, TpmFixture.tpm12(0x4000000A, new byte[] {0x00, 0x20}))), "TSC_PhysicalPresence(CMD_ENABLE)");
            assertEquals(0, rc(e.execute(0, TpmFixture.tpm12(0x4000000A, new byte[] {0x00, 0x08}))), "TSC_PhysicalPresence(PRESENT)");
            assertEquals(0, rc(e.execute(0, TpmFixture.tpm12(0x6F, new byte[0]))), "TPM_PhysicalEnable");
            assertEquals(0, rc(e.execute(0, TpmFixture.tpm12(0x72, new byte[] {0}))), "TPM_PhysicalSetDeactivated(FALSE)");
            e.initClear();
            assertEquals(0, e.sendStartupClear());
            assertEquals(0, rc(e.execute(0, TpmFixture.nvDefineSpace12(0xFFFFFFFF, 0, 0))), "TPM_NV_INDEX_LOCK: nvLocked");

            assertEquals(TPM_AREA_LOCKED, rc(e.execute(0, TpmFixture.nvWriteValue12(0x1000F000, 7, new byte[] {1}))),
                    "written once (bWriteDefine)");
            assertEquals(TPM_BADINDEX, rc(e.execute(0, TpmFixture.nvDefineSpace12(0x1000F000, 0x2000, 0))),
                    "the D bit: never deleted");
            assertEquals(cert, readTpm12Certificate(e), "still read without authorization, NV locked, no owner");
        }
    }

    @Test
    void aTpm12CertificateIsNotLockedWithoutLockNvram() throws Exception {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm12", TpmFamily.TPM12);
            new EkManufacturer(false).manufacture(e, uuid, ca);
            byte[] pub = e.execute(0, TpmFixture.nvIndexCapability12(0x1000F000));
            assertEquals(0, pub[pub.length - 5], "bWriteDefine not set");
        }
    }

    private static byte[] hex(String s) {
        return java.util.HexFormat.of().parseHex(s);
    }
}
