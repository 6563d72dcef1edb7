package org.vtpmback.test.emulator;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Hand-built TPM packets (TPM 1.2 / TPM 2.0 Part 3 layouts, big-endian) and response checks, so the
 * emulator and its tests depend on no TSS. Stateless; every call returns a fresh array.
 */
public final class TpmPackets {
    /** TPM 1.2 TPM_TAG_RQU_COMMAND / TPM_TAG_RSP_COMMAND. */
    public static final int TPM12_TAG_RQU = 0x00C1;
    public static final int TPM12_TAG_RSP = 0x00C4;
    /** TPM2 TPM_ST_NO_SESSIONS / TPM_ST_SESSIONS. */
    public static final int TPM2_ST_NO_SESSIONS = 0x8001;
    public static final int TPM2_ST_SESSIONS = 0x8002;
    public static final int HEADER_SIZE = 10;

    private static final int TPM_ORD_GET_CAPABILITY = 0x65;
    private static final int TPM_CAP_PROPERTY = 5;
    private static final int TPM_CAP_PROP_TIS_TIMEOUT = 0x115;
    private static final int TPM2_CC_GET_RANDOM = 0x17B;

    private TpmPackets() {
    }

    /**
     * What Linux tpm1_get_timeouts sends first from tpmfront_probe: TPM 1.2
     * TPM_GetCapability(TPM_CAP_PROPERTY, TPM_CAP_PROP_TIS_TIMEOUT), 22 bytes. A TPM 2.0 refuses it
     * with a 10-byte error response (swtpm 0.7.1: tag 0x8001, TPM_RC_VALUE), still a valid response.
     */
    public static byte[] linuxGetTimeoutsCommand() {
        return ByteBuffer.allocate(22).putShort((short) TPM12_TAG_RQU).putInt(22).putInt(TPM_ORD_GET_CAPABILITY)
                .putInt(TPM_CAP_PROPERTY).putInt(4).putInt(TPM_CAP_PROP_TIS_TIMEOUT).array();
    }

    /** TPM2_GetRandom(bytesRequested), 12 bytes. */
    public static byte[] tpm2GetRandom(int bytes) {
        return ByteBuffer.allocate(12).putShort((short) TPM2_ST_NO_SESSIONS).putInt(12).putInt(TPM2_CC_GET_RANDOM)
                .putShort((short) bytes).array();
    }

    /** The response code (u32 at offset 6). */
    public static int responseCode(byte[] response) {
        return ByteBuffer.wrap(response).getInt(6);
    }

    /** The response tag (u16 at offset 0). */
    public static int tag(byte[] packet) {
        return Short.toUnsignedInt(ByteBuffer.wrap(packet).getShort(0));
    }

    /**
     * Whether {@code response} looks like a TPM response: at least a header, a response tag of
     * either family, and a size field equal to its length.
     */
    public static boolean isWellFormedResponse(byte[] response) {
        if (response == null || response.length < HEADER_SIZE) {
            return false;
        }
        int tag = tag(response);
        boolean knownTag = tag == TPM12_TAG_RSP || tag == TPM2_ST_NO_SESSIONS || tag == TPM2_ST_SESSIONS;
        return knownTag && ByteBuffer.wrap(response).getInt(2) == response.length;
    }

    /** The random bytes of a successful TPM2_GetRandom response (TPM2B after the header). */
    public static byte[] randomBytes(byte[] response) {
        int size = Short.toUnsignedInt(ByteBuffer.wrap(response).getShort(HEADER_SIZE));
        return Arrays.copyOfRange(response, HEADER_SIZE + 2, HEADER_SIZE + 2 + size);
    }
}
