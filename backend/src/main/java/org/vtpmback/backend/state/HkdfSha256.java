package org.vtpmback.backend.state;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * HKDF with HMAC-SHA256 (RFC 5869), with HMAC (RFC 2104) written out over the JDK's SHA-256. Java 17 has no HKDF, and
 * both ready-made ways cost the daemon's start dearly though it derives only a few keys there (the generation
 * anchors'): Bouncy Castle's puts a signed jar on the start path (the JVM checks bcprov's signature when it loads the
 * first class from it, about 0.25 s on a 2-core host, and class-data sharing cannot archive classes from a signed
 * jar); the JDK's {@code Mac.getInstance("HmacSHA256")} first instantiates every security provider ahead of SunJCE,
 * through a service-loader scan of the JDK's modules (0.16-0.25 s measured in a fresh JVM on a loaded 2-core host,
 * against 0.5 ms for {@code MessageDigest.getInstance("SHA-256")}, which the first provider, SUN, serves). The
 * output is byte for byte Bouncy Castle's {@code HKDFBytesGenerator(new SHA256Digest())}, which derived every key
 * sealed so far, and the JDK's HmacSHA256 (HkdfSha256Test compares with both). Stateless and thread-safe.
 */
final class HkdfSha256 {
    static final int HASH_LENGTH = 32;
    /** RFC 5869, 2.3: L is at most 255 HashLen. */
    static final int MAX_LENGTH = 255 * HASH_LENGTH;
    /** SHA-256's block size, B in RFC 2104. */
    private static final int BLOCK = 64;
    private static final byte IPAD = 0x36;
    private static final byte OPAD = 0x5c;

    private HkdfSha256() {
    }

    /**
     * Extract-then-expand with no salt (RFC 5869, 2.2: HashLen zero bytes).
     *
     * @return {@code length} bytes of output keying material; the caller owns and wipes them
     */
    static byte[] derive(byte[] ikm, byte[] info, int length) {
        if (length < 1 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("HKDF-SHA256 makes 1 to " + MAX_LENGTH + " bytes, not " + length);
        }
        byte[] prk = hmac(new byte[HASH_LENGTH], ikm);
        byte[] okm = new byte[length];
        byte[] t = new byte[0];
        try {
            // RFC 5869, 2.3: T(i) = HMAC(PRK, T(i-1) | info | i); OKM = the first L bytes of T(1) | T(2) | ...
            for (int i = 1, done = 0; done < length; i++) {
                byte[] next = hmac(prk, t, info, new byte[] {(byte) i});
                Arrays.fill(t, (byte) 0);
                t = next;
                int n = Math.min(t.length, length - done);
                System.arraycopy(t, 0, okm, done, n);
                done += n;
            }
            return okm;
        } finally {
            Arrays.fill(prk, (byte) 0);
            Arrays.fill(t, (byte) 0);
        }
    }

    /** RFC 2104: H((K0 ^ opad) | H((K0 ^ ipad) | text)), K0 the key padded with zeros to B bytes (hashed first if longer). */
    static byte[] hmac(byte[] key, byte[]... text) {
        MessageDigest sha = sha256();
        byte[] k = key.length > BLOCK ? sha.digest(key) : key;
        byte[] pad = new byte[BLOCK];
        byte[] inner = null;
        try {
            for (int i = 0; i < BLOCK; i++) {
                pad[i] = (byte) ((i < k.length ? k[i] : 0) ^ IPAD);
            }
            sha.update(pad);
            for (byte[] part : text) {
                sha.update(part);
            }
            inner = sha.digest();
            for (int i = 0; i < BLOCK; i++) {
                pad[i] = (byte) ((i < k.length ? k[i] : 0) ^ OPAD);
            }
            sha.update(pad);
            return sha.digest(inner);
        } finally {
            Arrays.fill(pad, (byte) 0);
            if (inner != null) {
                Arrays.fill(inner, (byte) 0);
            }
            if (k != key) {
                Arrays.fill(k, (byte) 0);
            }
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256 (every Java SE runtime must): " + e, e);
        }
    }
}
