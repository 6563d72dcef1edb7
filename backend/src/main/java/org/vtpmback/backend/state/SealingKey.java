package org.vtpmback.backend.state;

import java.util.Arrays;
import javax.crypto.SecretKey;

/**
 * A 256-bit AES key that can be wiped: {@link #destroy} zeroes the bytes it holds, which
 * {@link javax.crypto.spec.SecretKeySpec} cannot do (its {@code destroy} is not implemented). The JDK's cipher
 * takes a copy through {@link #getEncoded} and expands it into round keys of its own; those copies are beyond
 * reach and die with the {@link javax.crypto.Cipher} object, which {@link Sealer} never keeps. Thread-safe.
 */
public final class SealingKey implements SecretKey {
    private static final long serialVersionUID = 1L;
    public static final int LENGTH = 32;

    private final byte[] bytes;
    private volatile boolean destroyed;

    /** Takes {@code bytes} over (no copy): the caller must not keep or reuse the array. */
    SealingKey(byte[] bytes) {
        if (bytes.length != LENGTH) {
            throw new IllegalArgumentException("an AES-256 key has " + LENGTH + " bytes, not " + bytes.length);
        }
        this.bytes = bytes;
    }

    /** A key from a copy of {@code bytes}; the caller still owns (and wipes) its array. */
    public static SealingKey copyOf(byte[] bytes) {
        return new SealingKey(bytes.clone());
    }

    @Override
    public String getAlgorithm() {
        return "AES";
    }

    @Override
    public String getFormat() {
        return "RAW";
    }

    /** A copy of the key; refused once destroyed (a wiped key must never seal anything). */
    @Override
    public byte[] getEncoded() {
        if (destroyed) {
            throw new IllegalStateException("sealing key used after it was destroyed");
        }
        return bytes.clone();
    }

    /** Zeroes the key; idempotent. */
    @Override
    public void destroy() {
        destroyed = true;
        Arrays.fill(bytes, (byte) 0);
    }

    @Override
    public boolean isDestroyed() {
        return destroyed;
    }

    @Override
    public String toString() {
        return "SealingKey[" + (destroyed ? "destroyed" : "AES-256") + "]"; // never the bytes
    }
}
