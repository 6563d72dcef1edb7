package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.vtpmback.test.emulator.TpmPackets;

/** Hand-built TPM 2.0 commands for PCR checks (TPM 2.0 Part 3 layouts, big-endian). */
final class TpmCommands {
    private static final int TPM_CC_PCR_EXTEND = 0x182;
    private static final int TPM_CC_PCR_READ = 0x17E;
    private static final int TPM_RS_PW = 0x40000009;
    private static final short TPM_ALG_SHA256 = 0x000B;

    private TpmCommands() {
    }

    /** TPM2_PCR_Extend(pcr, sha256 = digest) with an empty password session. */
    static byte[] pcrExtend(int pcr, byte[] digest) {
        int size = 10 + 4 + 4 + 9 + 4 + 2 + 32;
        return ByteBuffer.allocate(size).putShort((short) TpmPackets.TPM2_ST_SESSIONS).putInt(size).putInt(TPM_CC_PCR_EXTEND)
                .putInt(pcr).putInt(9).putInt(TPM_RS_PW).putShort((short) 0).put((byte) 0).putShort((short) 0)
                .putInt(1).putShort(TPM_ALG_SHA256).put(digest).array();
    }

    /** TPM2_PCR_Read of one sha256 PCR (0..23). */
    static byte[] pcrRead(int pcr) {
        byte[] select = new byte[3];
        select[pcr / 8] = (byte) (1 << (pcr % 8));
        int size = 10 + 4 + 2 + 1 + 3;
        return ByteBuffer.allocate(size).putShort((short) TpmPackets.TPM2_ST_NO_SESSIONS).putInt(size).putInt(TPM_CC_PCR_READ)
                .putInt(1).putShort(TPM_ALG_SHA256).put((byte) 3).put(select).array();
    }

    /** The single digest of a successful PCR_Read response of one sha256 PCR. */
    static byte[] pcrValue(byte[] response) {
        assertEquals(0, TpmPackets.responseCode(response), () -> "PCR_Read failed: " + HexFormat.of().formatHex(response));
        // header 10, pcrUpdateCounter 4, TPML_PCR_SELECTION 4+2+1+3, TPML_DIGEST count 4, TPM2B size 2
        int at = 10 + 4 + 10 + 4;
        int len = Short.toUnsignedInt(ByteBuffer.wrap(response).getShort(at));
        assertEquals(32, len, "sha256 PCR digest size");
        return Arrays.copyOfRange(response, at + 2, at + 2 + len);
    }

    /** What a PCR holds after extending {@code old} by {@code digest}. */
    static byte[] extended(byte[] old, byte[] digest) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(old);
            md.update(digest);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Asserts a successful TPM2_GetRandom answer with {@code n} bytes. */
    static void assertRandom(byte[] response, int n) {
        assertEquals(0, TpmPackets.responseCode(response), () -> "GetRandom failed: " + HexFormat.of().formatHex(response));
        assertEquals(n, TpmPackets.randomBytes(response).length, "random bytes");
    }
}
