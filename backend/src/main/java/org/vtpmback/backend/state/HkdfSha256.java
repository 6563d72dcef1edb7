package org.vtpmback.backend.state;

import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * HKDF with HMAC-SHA256 (RFC 5869), on the JDK's own HMAC. Java 17 has no HKDF, and Bouncy Castle's would put a
 * signed jar on the daemon's start path: the JVM checks bcprov's signature when it loads the first class from it,
 * about 0.25 s on an idle 2-core host, and class-data sharing cannot archive classes from a signed jar. The output
 * is byte for byte Bouncy Castle's {@code HKDFBytesGenerator(new SHA256Digest())}, which sealed every record made so far
 * (HkdfSha256Test compares both). Stateless and thread-safe.
 */
final class HkdfSha256 {
    private static final String HMAC = "HmacSHA256";
    static final int HASH_LENGTH = 32;
    /** RFC 5869, 2.3: L is at most 255 HashLen. */
    static final int MAX_LENGTH = 255 * HASH_LENGTH;

    private HkdfSha256() {
    }

    /**
     * Extract-then-expand with no salt (RFC 5869, 2.2: HashLen zero bytes, the same HMAC key as an empty salt).
     *
     * @return {@code length} bytes of output keying material; the caller owns and wipes them
     */
    static byte[] derive(byte[] ikm, byte[] info, int length) {
        if (length < 1 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("HKDF-SHA256 makes 1 to " + MAX_LENGTH + " bytes, not " + length);
        }
        byte[] prk = hmac(new byte[HASH_LENGTH], ikm);
        try {
            return expand(prk, info, length);
        } finally {
            Arrays.fill(prk, (byte) 0);
        }
    }

    /** RFC 5869, 2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = the first {@code length} bytes of T(1) | T(2) | ... */
    private static byte[] expand(byte[] prk, byte[] info, int length) {
        Mac mac = mac(prk);
        byte[] okm = new byte[length];
        byte[] t = new byte[0];
        for (int i = 1, done = 0; done < length; i++) {
            mac.update(t);
            mac.update(info);
            mac.update((byte) i);
            Arrays.fill(t, (byte) 0);
            t = mac.doFinal();
            int n = Math.min(t.length, length - done);
            System.arraycopy(t, 0, okm, done, n);
            done += n;
        }
        Arrays.fill(t, (byte) 0);
        return okm;
    }

    private static byte[] hmac(byte[] key, byte[] data) {
        return mac(key).doFinal(data);
    }

    /**
     * An HMAC-SHA256 keyed with {@code key}. The JDK keeps a copy of the key in the Mac (beyond reach, as the round
     * keys in {@link Sealer}'s cipher), which is garbage once the Mac is.
     */
    private static Mac mac(byte[] key) {
        try {
            Mac mac = Mac.getInstance(HMAC);
            // never empty (SecretKeySpec refuses that): the salt is HashLen zero bytes, the same HMAC key as an empty
            // salt (RFC 2104 pads a short key with zeros), and a PRK is HashLen bytes
            mac.init(new SecretKeySpec(key, HMAC));
            return mac;
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("the JDK has no usable " + HMAC + " (every Java SE runtime must): " + e, e);
        }
    }
}
