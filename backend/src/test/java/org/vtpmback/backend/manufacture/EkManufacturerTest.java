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

/** Manufacturing real swtpm TPMs: EK, EK certificate in NV, persistence, refusal, TPM 1.2. */
@Timeout(60)
class EkManufacturerTest {
    private static final int EK = 0x81010001;
    private static final int NV = 0x01C00002;
    /** What swtpm_setup 0.7.1 --lock-nvram leaves (tpm2_nvreadpublic on its state): attributes + WRITTEN|WRITELOCKED. */
    private static final int LOCKED_ATTRIBUTES = 0x62072801;
    private static final int TPM_RC_NV_LOCKED = 0x148;
    private static final int TPM_RC_NV_AUTHORIZATION = 0x149;

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
    void manufacturesATpm12EndorsementKey() {
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm12", TpmFamily.TPM12);
            assertFalse(EkManufacturer.isManufactured(e));
            RSAPublicKey ek = new EkManufacturer().manufactureTpm12(e);
            assertEquals(2048, ek.getModulus().bitLength());
            assertTrue(EkManufacturer.isManufactured(e));
            ManufactureException ex = assertThrows(ManufactureException.class,
                    () -> new EkManufacturer().manufactureTpm12(e));
            assertTrue(ex.getMessage().contains("TPM_CreateEndorsementKeyPair"), ex.getMessage());
            assertEquals(0x08, ex.responseCode(), "TPM_DISABLED_CMD: the EK exists");
        }
    }

    private static byte[] hex(String s) {
        return java.util.HexFormat.of().parseHex(s);
    }
}
