package org.vtpmback.backend.state;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.modes.GCMBlockCipher;
import org.bouncycastle.crypto.modes.GCMModeCipher;
import org.bouncycastle.crypto.params.AEADParameters;
import org.bouncycastle.crypto.params.KeyParameter;

/**
 * AES-256-GCM sealing of vTPM state (Bouncy Castle). Layout: 8-byte magic {@code VTPMBK} + format
 * version, 12-byte random nonce, ciphertext with a 16-byte tag. The associated data binds a sealed
 * file to its instance and role, so files cannot be swapped between instances or roles unnoticed; any
 * flipped bit or truncation fails {@link #open}.
 */
public final class Sealer {
    static final byte[] MAGIC = {'V', 'T', 'P', 'M', 'B', 'K', 0, 1};
    static final int NONCE_LENGTH = 12;
    static final int TAG_BITS = 128;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Sealer() {
    }

    public static byte[] seal(byte[] key, String context, byte[] plaintext) {
        byte[] nonce = new byte[NONCE_LENGTH];
        RANDOM.nextBytes(nonce);
        GCMModeCipher gcm = cipher(true, key, nonce, context);
        byte[] out = new byte[MAGIC.length + NONCE_LENGTH + gcm.getOutputSize(plaintext.length)];
        System.arraycopy(MAGIC, 0, out, 0, MAGIC.length);
        System.arraycopy(nonce, 0, out, MAGIC.length, NONCE_LENGTH);
        int n = gcm.processBytes(plaintext, 0, plaintext.length, out, MAGIC.length + NONCE_LENGTH);
        try {
            gcm.doFinal(out, MAGIC.length + NONCE_LENGTH + n);
        } catch (InvalidCipherTextException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
        }
        return out;
    }

    /** Decrypts and authenticates; throws {@link SealedDataException} saying what is wrong. */
    public static byte[] open(byte[] key, String context, byte[] sealed) throws SealedDataException {
        int header = MAGIC.length + NONCE_LENGTH;
        if (sealed.length < header + TAG_BITS / 8) {
            throw new SealedDataException("truncated: " + sealed.length + " bytes is shorter than an empty sealed file");
        }
        if (!Arrays.equals(MAGIC, 0, MAGIC.length, sealed, 0, MAGIC.length)) {
            throw new SealedDataException("not a vtpmback sealed file (bad magic or format version)");
        }
        byte[] nonce = Arrays.copyOfRange(sealed, MAGIC.length, header);
        GCMModeCipher gcm = cipher(false, key, nonce, context);
        byte[] out = new byte[gcm.getOutputSize(sealed.length - header)];
        int n = gcm.processBytes(sealed, header, sealed.length - header, out, 0);
        try {
            n += gcm.doFinal(out, n);
        } catch (InvalidCipherTextException e) {
            throw new SealedDataException("authentication failed: the file was modified, truncated, or sealed with another key");
        }
        return n == out.length ? out : Arrays.copyOf(out, n);
    }

    private static GCMModeCipher cipher(boolean encrypt, byte[] key, byte[] nonce, String context) {
        GCMModeCipher gcm = GCMBlockCipher.newInstance(AESEngine.newInstance());
        gcm.init(encrypt, new AEADParameters(new KeyParameter(key), TAG_BITS, nonce, context.getBytes(StandardCharsets.UTF_8)));
        return gcm;
    }

}
