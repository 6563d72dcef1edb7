package org.vtpmback.test.faults.guest;

import java.nio.ByteBuffer;
import java.util.Random;

/**
 * The TPM 2.0 commands of the guest fault suite that the shared helpers
 * ({@link org.vtpmback.backend.engine.TpmCommands}) do not build: a slow RSA CreatePrimary and its
 * FlushContext, and the response fields the suite reads. Stateless.
 */
final class Tpm2 {
    static final int ST_NO_SESSIONS = 0x8001;
    static final int ST_SESSIONS = 0x8002;
    static final int TPM12_TAG_RSP = 0xC4;
    static final int RC_SUCCESS = 0;
    /** TPM_RC_FAILURE: what the backend answers when the engine or the save failed. */
    static final int RC_FAILURE = 0x101;
    /** TPM_FAIL (TPM 1.2). */
    static final int TPM12_FAIL = 0x9;
    private static final int CC_CREATE_PRIMARY = 0x131;
    private static final int CC_FLUSH_CONTEXT = 0x165;
    private static final int RH_OWNER = 0x40000001;
    private static final int RS_PW = 0x40000009;
    private static final int ALG_RSA = 0x0001;
    private static final int ALG_SHA256 = 0x000B;
    private static final int ALG_AES = 0x0006;
    private static final int ALG_CFB = 0x0043;
    private static final int ALG_NULL = 0x0010;
    /** fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | decrypt: a storage key. */
    private static final int STORAGE_KEY = 0x2 | 0x10 | 0x20 | 0x40 | 0x10000 | 0x20000;

    private Tpm2() {
    }

    /**
     * TPM2_CreatePrimary of an RSA storage key of {@code bits} under the owner hierarchy (empty owner
     * password). {@code unique} is random, so every call derives a new key: a real prime search each
     * time, seconds of swtpm CPU for 3072 bits.
     */
    static byte[] createPrimaryRsa(int bits, Random random) {
        byte[] unique = new byte[32];
        random.nextBytes(unique);
        ByteBuffer pub = ByteBuffer.allocate(64).putShort((short) ALG_RSA).putShort((short) ALG_SHA256).putInt(STORAGE_KEY)
                .putShort((short) 0) // authPolicy
                .putShort((short) ALG_AES).putShort((short) 128).putShort((short) ALG_CFB) // symmetric
                .putShort((short) ALG_NULL) // scheme
                .putShort((short) bits).putInt(0) // keyBits, exponent (default)
                .putShort((short) unique.length).put(unique);
        int pubLen = pub.position();
        ByteBuffer b = ByteBuffer.allocate(256).putShort((short) ST_SESSIONS).putInt(0).putInt(CC_CREATE_PRIMARY).putInt(RH_OWNER)
                .putInt(9).putInt(RS_PW).putShort((short) 0).put((byte) 0).putShort((short) 0) // password session
                .putShort((short) 4).putShort((short) 0).putShort((short) 0) // inSensitive: empty userAuth and data
                .putShort((short) pubLen).put(pub.array(), 0, pubLen) // inPublic
                .putShort((short) 0) // outsideInfo
                .putInt(0); // creationPCR: no selection
        return finish(b);
    }

    /** The object handle of a successful CreatePrimary response. */
    static int createdHandle(byte[] response) {
        return ByteBuffer.wrap(response).getInt(10);
    }

    static byte[] flushContext(int handle) {
        return finish(ByteBuffer.allocate(14).putShort((short) ST_NO_SESSIONS).putInt(0).putInt(CC_FLUSH_CONTEXT).putInt(handle));
    }

    private static byte[] finish(ByteBuffer b) {
        int size = b.position();
        b.putInt(2, size);
        byte[] out = new byte[size];
        b.get(0, out);
        return out;
    }

    /** The response code; -1 for anything shorter than a header. */
    static int rc(byte[] response) {
        return response.length >= 10 ? ByteBuffer.wrap(response).getInt(6) : -1;
    }

    /** A TPM response of either family whose size field matches its length. */
    static boolean wellFormed(byte[] response) {
        if (response.length < 10) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(response);
        int tag = Short.toUnsignedInt(b.getShort(0));
        return (tag == ST_NO_SESSIONS || tag == ST_SESSIONS || tag == TPM12_TAG_RSP) && b.getInt(2) == response.length;
    }

    /** TPM_RC_FAILURE, or TPM_FAIL for a TPM 1.2: the backend's "the engine or the save failed" answer. */
    static boolean isFailure(byte[] response) {
        int rc = rc(response);
        return rc == RC_FAILURE || rc == TPM12_FAIL;
    }
}
