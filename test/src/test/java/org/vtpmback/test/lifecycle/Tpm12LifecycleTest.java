package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.vtpmback.test.lifecycle.GuestTpm.assertOk;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.tpm12;
import static org.vtpmback.test.lifecycle.GuestTpm.tpm12Extend;
import static org.vtpmback.test.lifecycle.GuestTpm.tpm12PcrRead;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;

/** TPM 1.2 instances: reboot keeps NV (and the EK), save/restore keeps the PCRs. Raw 1.2 commands. */
@UseSimulatedHost
@Timeout(180)
class Tpm12LifecycleTest {
    static final int NV_INDEX = 0x00011101;
    static final byte[] NV_DATA = "TPM 1.2 NV survives reboots!!!!!".getBytes(StandardCharsets.US_ASCII); // 32 bytes
    // TPM 1.2 Part 3 ordinals
    static final int TPM_ORD_NV_DEFINE_SPACE = 0xCC;
    static final int TPM_ORD_NV_WRITE_VALUE = 0xCD;
    static final int TPM_ORD_NV_READ_VALUE = 0xCF;
    static final int TPM_ORD_READ_PUBEK = 0x7C;

    SimulatedVtpmHost host;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
    }

    private Guest boot12(String uuid, boolean resume) throws Exception {
        host.family(uuid, TpmFamily.TPM12);
        return host.boot(uuid, resume);
    }

    /** TPM_NV_DefineSpace of an owner-writable index without PCR restrictions. */
    static byte[] defineSpace(int index, int size) {
        ByteBuffer b = ByteBuffer.allocate(2 + 4 + 2 * (2 + 3 + 1 + 20) + 2 + 4 + 3 + 4 + 20);
        b.putShort((short) 0x0018).putInt(index); // TPM_TAG_NV_DATA_PUBLIC, nvIndex
        for (int i = 0; i < 2; i++) { // pcrInfoRead, pcrInfoWrite: TPM_PCR_INFO_SHORT, no PCRs, any locality
            b.putShort((short) 3).put(new byte[3]).put((byte) 0x1F).put(new byte[20]);
        }
        // TPM_NV_ATTRIBUTES: TPM_NV_PER_OWNERWRITE (some write protection is required: TPM_PER_NOWRITE otherwise)
        b.putShort((short) 0x0017).putInt(0x00000002);
        b.put((byte) 0).put((byte) 0).put((byte) 0); // bReadSTClear, bWriteSTClear, bWriteDefine
        b.putInt(size);
        b.put(new byte[20]); // encAuth
        return b.array();
    }

    @Test
    void rebootKeepsNvAndTheEndorsementKey() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = boot12(uuid, false);
        byte[] pubek = tpm12(g, TPM_ORD_READ_PUBEK, new byte[20]);
        assertOk(pubek, "TPM_ReadPubek (the EK made at manufacture)");
        // No owner yet, so nvLocked is FALSE and the TPM ignores NV authorisation (Part 3 §20.1).
        byte[] def = tpm12(g, TPM_ORD_NV_DEFINE_SPACE, defineSpace(NV_INDEX, NV_DATA.length));
        assertOk(def, "TPM_NV_DefineSpace");
        byte[] w = tpm12(g, TPM_ORD_NV_WRITE_VALUE, ByteBuffer.allocate(12 + NV_DATA.length)
                .putInt(NV_INDEX).putInt(0).putInt(NV_DATA.length).put(NV_DATA).array());
        assertOk(w, "TPM_NV_WriteValue");
        for (int i = 1; i <= 2; i++) {
            g.shutdown(ShutdownReason.REBOOT);
            assertEquals(EndKind.SHUTDOWN, awaitEnded(host, uuid).lastEnd());
            g = boot12(uuid, false);
            byte[] r = tpm12(g, TPM_ORD_NV_READ_VALUE, ByteBuffer.allocate(12).putInt(NV_INDEX).putInt(0).putInt(NV_DATA.length).array());
            assertOk(r, "TPM_NV_ReadValue after reboot " + i);
            assertArrayEquals(NV_DATA, Arrays.copyOfRange(r, 14, 14 + NV_DATA.length), "reboot " + i);
            assertArrayEquals(pubek, tpm12(g, TPM_ORD_READ_PUBEK, new byte[20]), "the same EK after reboot " + i);
        }
    }

    @Test
    void saveRestoreKeepsThePcrs() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = boot12(uuid, false);
        byte[] pcr10 = tpm12Extend(g, 10, MessageDigest.getInstance("SHA-1").digest("kernel".getBytes()));
        assertFalse(Arrays.equals(new byte[20], pcr10));
        for (int i = 1; i <= 3; i++) {
            g.suspend();
            assertEquals(EndKind.SUSPENDED, awaitEnded(host, uuid).lastEnd());
            g = boot12(uuid, true);
            assertArrayEquals(pcr10, tpm12PcrRead(g, 10), "restore " + i + ": PCR 10 " + HexFormat.of().formatHex(pcr10));
            pcr10 = tpm12Extend(g, 10, MessageDigest.getInstance("SHA-1").digest(("restore " + i).getBytes()));
        }
        g.shutdown(ShutdownReason.REBOOT);
        awaitEnded(host, uuid);
        g = boot12(uuid, false);
        assertArrayEquals(new byte[20], tpm12PcrRead(g, 10), "a reboot resets PCR 10");
    }
}
