package org.vtpmback.backend.manufacture;

import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_AES;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_CFB;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_NULL;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_RSA;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_SHA256;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The TCG default EK template for RSA 2048 (TCG EK Credential Profile for TPM Family 2.0, §2.1.5.1
 * Template L-1), marshalled as TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4), and the reverse: turning a
 * TPMT_PUBLIC read back from the TPM into a Java RSA key. The template is fixed by the profile so that
 * any verifier can re-create the same EK with CreatePrimary and match it to its certificate.
 */
final class EkTemplate {
    /** fixedTPM | fixedParent | sensitiveDataOrigin | adminWithPolicy | restricted | decrypt (Part 2 §8.3). */
    static final int OBJECT_ATTRIBUTES = 0x000300B2;
    /** PolicySecret(TPM_RH_ENDORSEMENT) under SHA-256 (EK Credential Profile §2.1.5.1, B.3.3). */
    static final byte[] AUTH_POLICY = HexFormat.of()
            .parseHex("837197674484B3F81A90CC8D46A5D724FD52D76E06520B64F2A1DA1B331469AA");
    static final int KEY_BITS = 2048;
    /** TPM 2.0 Part 2 §12.2.3.5: an exponent of 0 means the default 2^16 + 1. */
    static final BigInteger DEFAULT_EXPONENT = BigInteger.valueOf(65537);

    private EkTemplate() {
    }

    /** Template L-1 as TPMT_PUBLIC; the unique field is 256 zero bytes as the profile requires. */
    static byte[] rsa2048() {
        return ByteBuffer.allocate(2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 4 + 2 + 256)
                .putShort((short) TPM_ALG_RSA)
                .putShort((short) TPM_ALG_SHA256)
                .putInt(OBJECT_ATTRIBUTES)
                .putShort((short) AUTH_POLICY.length).put(AUTH_POLICY)
                // TPMS_RSA_PARMS: symmetric AES-128-CFB, scheme NULL, keyBits 2048, exponent 0
                .putShort((short) TPM_ALG_AES).putShort((short) 128).putShort((short) TPM_ALG_CFB)
                .putShort((short) TPM_ALG_NULL)
                .putShort((short) KEY_BITS)
                .putInt(0)
                .putShort((short) 256).put(new byte[256])
                .array();
    }

    /**
     * Parses a TPMT_PUBLIC of an RSA EK created from {@link #rsa2048()} and returns its public key.
     *
     * @throws ManufactureException if the object is not an RSA 2048 key with the template's
     *         attributes and policy (something else sits at the EK handle)
     */
    static RSAPublicKey publicKey(byte[] tpmtPublic) {
        Tpm2Marshal.Reader r = Tpm2Marshal.Reader.structure("EK TPMT_PUBLIC", tpmtPublic);
        int type = r.u16();
        int nameAlg = r.u16();
        int attributes = r.u32();
        byte[] policy = r.tpm2b();
        if (type != TPM_ALG_RSA || nameAlg != TPM_ALG_SHA256 || attributes != OBJECT_ATTRIBUTES
                || !Arrays.equals(policy, AUTH_POLICY)) {
            throw new ManufactureException(String.format(java.util.Locale.ROOT,
                    "object is not a TCG RSA 2048 EK: type 0x%x nameAlg 0x%x attributes 0x%08x", type, nameAlg,
                    attributes));
        }
        int sym = r.u16();
        if (sym != TPM_ALG_NULL) {
            r.u16(); // keyBits
            r.u16(); // mode
        }
        if (r.u16() != TPM_ALG_NULL) {
            r.u16(); // scheme hashAlg
        }
        int keyBits = r.u16();
        long exponent = Integer.toUnsignedLong(r.u32());
        byte[] modulus = r.tpm2b();
        if (keyBits != KEY_BITS || modulus.length != KEY_BITS / 8) {
            throw new ManufactureException("EK is not RSA 2048: keyBits " + keyBits + ", modulus " + modulus.length
                    + " bytes");
        }
        BigInteger e = exponent == 0 ? DEFAULT_EXPONENT : BigInteger.valueOf(exponent);
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new RSAPublicKeySpec(new BigInteger(1, modulus), e));
        } catch (GeneralSecurityException ex) {
            throw new ManufactureException("cannot build the EK public key", ex);
        }
    }
}
