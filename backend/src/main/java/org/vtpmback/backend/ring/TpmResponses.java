package org.vtpmback.backend.ring;

import java.nio.ByteBuffer;

/**
 * The one place that builds the error responses the backend sends on its own behalf: when a request
 * is refused at the guest boundary, when the TPM cannot answer (swtpm died or hung), when the state
 * behind an answer could not be saved, or when an answer cannot be delivered. A response header is
 * tag (u16), size (u32) and return code (u32), big-endian, 10 bytes, identical in layout for TPM 1.2
 * and TPM 2.0.
 *
 * <p>Stateless and thread-safe; every call returns a fresh array owned by the caller.
 */
public final class TpmResponses {
    /** Size of a TPM packet header (tag, size, ordinal or code): the shortest command or response. */
    public static final int HEADER_SIZE = 10;
    /** TPM2 {@code TPM_ST_NO_SESSIONS}: the tag of a TPM2 error response. */
    public static final int TPM2_ST_NO_SESSIONS = 0x8001;
    /** TPM2 {@code TPM_ST_SESSIONS}. */
    public static final int TPM2_ST_SESSIONS = 0x8002;
    /** TPM 1.2 {@code TPM_TAG_RSP_COMMAND}. */
    public static final int TPM12_TAG_RSP_COMMAND = 0x00C4;
    /** TPM2 {@code TPM_RC_FAILURE}: the TPM is in failure mode / could not process the command. */
    public static final int TPM2_RC_FAILURE = 0x101;
    /** TPM 1.2 {@code TPM_FAIL}: the operation failed. */
    public static final int TPM12_FAIL = 0x09;
    /** TPM2 {@code TPM_RC_COMMAND_SIZE}: the command's size is wrong. */
    public static final int TPM2_RC_COMMAND_SIZE = 0x142;
    /** TPM 1.2 {@code TPM_BAD_PARAM_SIZE}. */
    public static final int TPM12_BAD_PARAM_SIZE = 0x19;
    /** TPM2 {@code TPM_RC_LOCALITY}: what a real TPM answers for a locality it refuses. */
    public static final int TPM2_RC_LOCALITY = 0x907;
    /** TPM 1.2 {@code TPM_BAD_LOCALITY}. */
    public static final int TPM12_BAD_LOCALITY = 0x3d;

    private TpmResponses() {
    }

    /** A TPM2 error response: tag 0x8001, size 10, the given response code. */
    public static byte[] tpm2Error(int rc) {
        return header(TPM2_ST_NO_SESSIONS, rc);
    }

    /** A TPM 1.2 error response: tag 0x00C4, size 10, the given return code. */
    public static byte[] tpm12Error(int rc) {
        return header(TPM12_TAG_RSP_COMMAND, rc);
    }

    /** TPM_RC_FAILURE (TPM 2.0) or TPM_FAIL (1.2): the TPM could not process the command. */
    public static byte[] failure(boolean tpm2) {
        return tpm2 ? tpm2Error(TPM2_RC_FAILURE) : tpm12Error(TPM12_FAIL);
    }

    /** The answer to a request refused at the guest boundary; a plain failure for {@link GuestProtocolException.Refusal#NONE}. */
    public static byte[] refusal(GuestProtocolException.Refusal refusal, boolean tpm2) {
        return switch (refusal) {
            case COMMAND_SIZE -> tpm2 ? tpm2Error(TPM2_RC_COMMAND_SIZE) : tpm12Error(TPM12_BAD_PARAM_SIZE);
            case LOCALITY -> tpm2 ? tpm2Error(TPM2_RC_LOCALITY) : tpm12Error(TPM12_BAD_LOCALITY);
            case NONE -> failure(tpm2);
        };
    }

    /**
     * Whether a command or response packet carries a TPM2 tag (0x8001 or 0x8002). Anything else,
     * including a packet too short to have a tag, counts as TPM 1.2, the family Linux xen-tpmfront
     * assumes for every vTPM.
     */
    public static boolean isTpm2(byte[] packet) {
        if (packet.length < 2) {
            return false;
        }
        int tag = ((packet[0] & 0xFF) << 8) | (packet[1] & 0xFF);
        return tag == TPM2_ST_NO_SESSIONS || tag == TPM2_ST_SESSIONS;
    }

    /** A generic failure in the family of {@code packet}: TPM_RC_FAILURE or TPM_FAIL. */
    public static byte[] failureLike(byte[] packet) {
        return failure(isTpm2(packet));
    }

    private static byte[] header(int tag, int rc) {
        // ByteBuffer.allocate is big-endian, which is the TCG wire order.
        return ByteBuffer.allocate(HEADER_SIZE).putShort((short) tag).putInt(HEADER_SIZE).putInt(rc).array();
    }
}
