package org.vtpmback.backend.manufacture;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.util.Arrays;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmEngine;

/**
 * The TPM 1.2 endorsement commands (TPM 1.2 Main Part 3 §14): TPM_CreateEndorsementKeyPair, which a
 * fresh libtpms TPM 1.2 needs because it has no EK, and TPM_ReadPubek to see whether it has one.
 * Stateless.
 */
final class Tpm12Endorsement {
    private static final int TPM_TAG_RQU_COMMAND = 0x00C1;
    private static final int TPM_ORD_CREATE_ENDORSEMENT_KEY_PAIR = 0x78;
    private static final int TPM_ORD_READ_PUBEK = 0x7C;
    // TPM 1.2 Part 2 §16 return codes
    private static final int TPM_DISABLED_CMD = 0x08;
    private static final int TPM_NO_ENDORSEMENT = 0x23;
    // TPM 1.2 Part 2 §9.1, §11.1, §5.8
    private static final int TPM_ALG_RSA = 1;
    private static final int TPM_ES_RSAESOAEP_SHA1_MGF1 = 3;
    private static final int TPM_SS_NONE = 1;
    private static final int NONCE_SIZE = 20;
    private static final int KEY_BITS = 2048;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Tpm12Endorsement() {
    }

    /**
     * TPM_CreateEndorsementKeyPair(antiReplay, keyInfo = RSA 2048, OAEP-SHA1, no signature, 2 primes,
     * default exponent), verifying the returned checksum SHA1(pubEndorsementKey || antiReplay).
     */
    static RSAPublicKey createEndorsementKeyPair(TpmEngine engine) {
        byte[] nonce = nonce();
        byte[] cmd = ByteBuffer.allocate(10 + NONCE_SIZE + 24)
                .putShort((short) TPM_TAG_RQU_COMMAND).putInt(10 + NONCE_SIZE + 24)
                .putInt(TPM_ORD_CREATE_ENDORSEMENT_KEY_PAIR)
                .put(nonce)
                // TPM_KEY_PARMS {algorithmID, encScheme, sigScheme, parmSize, TPM_RSA_KEY_PARMS}
                .putInt(TPM_ALG_RSA).putShort((short) TPM_ES_RSAESOAEP_SHA1_MGF1).putShort((short) TPM_SS_NONE)
                .putInt(12).putInt(KEY_BITS).putInt(2).putInt(0)
                .array();
        String name = "TPM_CreateEndorsementKeyPair";
        byte[] response = engine.execute(0, cmd);
        int rc = Tpm2Marshal.responseCode(response);
        if (rc != 0) {
            throw new ManufactureException(rc == TPM_DISABLED_CMD ? name + " (the TPM already has an EK)" : name, rc);
        }
        return parsePubkeyWithChecksum(name, response, nonce);
    }

    /** TPM_ReadPubek: true if the TPM has an EK (readable, or ReadPubek disabled by an owner). */
    static boolean hasEk(TpmEngine engine) {
        byte[] cmd = ByteBuffer.allocate(10 + NONCE_SIZE).putShort((short) TPM_TAG_RQU_COMMAND)
                .putInt(10 + NONCE_SIZE).putInt(TPM_ORD_READ_PUBEK).put(nonce()).array();
        int rc = Tpm2Marshal.responseCode(engine.execute(0, cmd));
        if (rc == 0 || rc == TPM_DISABLED_CMD) {
            return true;
        }
        if (rc == TPM_NO_ENDORSEMENT) {
            return false;
        }
        throw new ManufactureException("TPM_ReadPubek", rc);
    }

    /**
     * TPM_ReadPubek (Part 3 §14.2): the EK's public key, its checksum verified; empty once TPM_TakeOwnership
     * has disabled the command (TPM_DISABLED_CMD: only the owner reads it then, with TPM_OwnerReadPubek).
     */
    static Optional<RSAPublicKey> readPubek(TpmEngine engine) {
        byte[] nonce = nonce();
        byte[] cmd = ByteBuffer.allocate(10 + NONCE_SIZE).putShort((short) TPM_TAG_RQU_COMMAND)
                .putInt(10 + NONCE_SIZE).putInt(TPM_ORD_READ_PUBEK).put(nonce).array();
        byte[] response = engine.execute(0, cmd);
        int rc = Tpm2Marshal.responseCode(response);
        if (rc == TPM_DISABLED_CMD) {
            return Optional.empty();
        }
        if (rc != 0) {
            throw new ManufactureException(rc == TPM_NO_ENDORSEMENT ? "TPM_ReadPubek (the TPM has no EK)" : "TPM_ReadPubek", rc);
        }
        return Optional.of(parsePubkeyWithChecksum("TPM_ReadPubek", response, nonce));
    }

    /** Response: TPM_PUBKEY pubEndorsementKey, TPM_DIGEST checksum (Part 3 §14.1). */
    private static RSAPublicKey parsePubkeyWithChecksum(String name, byte[] response, byte[] nonce) {
        Tpm2Marshal.Reader r = Tpm2Marshal.Reader.response(name, response);
        int start = Tpm2Marshal.HEADER_SIZE;
        r.u32(); // algorithmID
        r.u16(); // encScheme
        r.u16(); // sigScheme
        Tpm2Marshal.Reader parms = Tpm2Marshal.Reader.structure(name + " TPM_RSA_KEY_PARMS", r.bytes(r.u32()));
        int keyBits = parms.u32();
        parms.u32(); // numPrimes
        byte[] exponent = parms.bytes(parms.u32());
        byte[] modulus = r.bytes(r.u32());
        int pubkeyEnd = response.length - r.remaining();
        byte[] checksum = r.bytes(NONCE_SIZE);
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(response, start, pubkeyEnd - start);
            sha1.update(nonce);
            if (!MessageDigest.isEqual(sha1.digest(), checksum)) {
                throw new ManufactureException(name + ": checksum does not match the returned EK");
            }
            if (keyBits != KEY_BITS || modulus.length != KEY_BITS / 8) {
                throw new ManufactureException(name + ": EK is not RSA 2048 (" + keyBits + " bits)");
            }
            BigInteger e = exponent.length == 0 ? EkTemplate.DEFAULT_EXPONENT : new BigInteger(1, exponent);
            return (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new RSAPublicKeySpec(new BigInteger(1, modulus), e));
        } catch (GeneralSecurityException ex) {
            throw new ManufactureException(name + ": cannot build the EK public key", ex);
        }
    }

    private static byte[] nonce() {
        byte[] n = new byte[NONCE_SIZE];
        RANDOM.nextBytes(n);
        return Arrays.copyOf(n, NONCE_SIZE);
    }
}
