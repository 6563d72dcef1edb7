package org.vtpmback.backend.engine;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.vtpmback.backend.ring.TpmResponses;

/**
 * The mark a TPM gets when it is started clear while its guest keeps running (its swtpm died, or the
 * daemon restarted without a snapshot). A clear start resets every PCR to its boot value; a guest that
 * can crash its own swtpm could then replay a known-good boot's measurements into a running system and
 * quote them. So, before the guest sees the TPM again, every PCR 0-23 is extended with this fixed event
 * in every active bank: no PCR can ever again hold a value a real boot produces (that would need a
 * preimage of the hash), and a verifier that sees the chain knows the TPM was restarted under its guest.
 *
 * <p>The event is extended at locality 2, the one locality that the PC Client profile (and libtpms)
 * allows to extend every PCR 0-23 (PCRs 17-22 refuse locality 0). Stateless.
 */
public final class RestartMark {
    /** The event, measured as is (TPM2_PCR_Event) or as its SHA-1 digest (TPM 1.2 TPM_Extend). */
    public static final String EVENT = "vtpmback: TPM restarted clear under a running guest; PCRs are not from a boot";
    /** PCRs 0..PCRS-1 are marked: all of a PC Client TPM's. */
    public static final int PCRS = 24;
    /** The locality the mark is extended at. */
    public static final int LOCALITY = 2;

    private static final int TPM2_CC_PCR_EVENT = 0x13C;
    private static final int TPM2_RS_PW = 0x40000009;
    private static final int TPM12_TAG_RQU_COMMAND = 0x00C1;
    private static final int TPM12_ORD_EXTEND = 0x14;

    private RestartMark() {
    }

    /**
     * Extends every PCR of the running TPM {@code engine} with the mark.
     *
     * @throws EngineException naming the PCR and the TPM return code if one extend fails: the engine
     *                         must then not be handed to the guest
     */
    public static void extendAll(TpmEngine engine) {
        for (int pcr = 0; pcr < PCRS; pcr++) {
            byte[] response = engine.execute(LOCALITY, command(engine.family(), pcr));
            int rc = response.length >= 10 ? ByteBuffer.wrap(response, 6, 4).getInt() : -1;
            if (rc != 0) {
                throw new EngineException("cannot extend PCR " + pcr + " with the restart mark: TPM rc 0x" + Integer.toHexString(rc));
            }
        }
    }

    /** The extend command for {@code pcr}: TPM2_PCR_Event with an empty password, or TPM_Extend of the event's SHA-1. */
    static byte[] command(TpmFamily family, int pcr) {
        byte[] event = EVENT.getBytes(StandardCharsets.US_ASCII);
        if (family == TpmFamily.TPM2) {
            int size = 10 + 4 + 4 + 9 + 2 + event.length;
            return ByteBuffer.allocate(size).putShort((short) TpmResponses.TPM2_ST_SESSIONS).putInt(size).putInt(TPM2_CC_PCR_EVENT).putInt(pcr)
                    .putInt(9).putInt(TPM2_RS_PW).putShort((short) 0).put((byte) 0).putShort((short) 0)
                    .putShort((short) event.length).put(event).array();
        }
        return ByteBuffer.allocate(34).putShort((short) TPM12_TAG_RQU_COMMAND).putInt(34).putInt(TPM12_ORD_EXTEND).putInt(pcr)
                .put(sha1(event)).array();
    }

    private static byte[] sha1(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-1").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-1", e);
        }
    }
}
