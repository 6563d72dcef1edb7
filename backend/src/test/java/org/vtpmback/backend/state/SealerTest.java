package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.modes.GCMBlockCipher;
import org.bouncycastle.crypto.modes.GCMModeCipher;
import org.bouncycastle.crypto.params.AEADParameters;
import org.bouncycastle.crypto.params.KeyParameter;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JDK's AES-GCM seals exactly the layout the Bouncy Castle code of 2026-12 sealed: a file written by the old
 * code opens with the new (a fixed vector it produced, and fresh ones from Bouncy Castle's GCM here), and what the
 * new code seals opens with Bouncy Castle's GCM, so a daemon can be upgraded or rolled back over its stored vTPMs.
 */
class SealerTest {
    private static final String CONTEXT = "vtpmback instance 11111111-2222-3333-4444-555555555555";

    @TempDir
    Path dir;

    private static byte[] fixedKey() {
        byte[] key = new byte[32];
        for (int i = 0; i < key.length; i++) {
            key[i] = (byte) (i * 7 + 1);
        }
        return key;
    }

    @Test
    void aFileSealedByTheBouncyCastleSealerOpens() throws Exception {
        // Sealer.seal(fixedKey(), CONTEXT, text) of the Bouncy Castle Sealer (commit 9d14c83), printed as hex.
        byte[] sealed = HexFormat.of().parseHex("5654504d424b0001b43b13215bc2b6a2be7518cc340aa73204544b58487c1535f76279f6ee"
                + "3dfda7319c206cb75f1e65b56e0e831c4ef91f71310fa45a4f9cd9977981fddf13c2699f805d1311dfac2ae025e09fade45d7dc93b"
                + "cf7b7e44e9");
        assertEquals("a vTPM record sealed by the Bouncy Castle Sealer of 2026-12",
                new String(Sealer.open(fixedKey(), CONTEXT, sealed), StandardCharsets.UTF_8));
    }

    @RepeatedTest(20)
    void bouncyCastleAndTheJdkOpenWhatTheOtherSealed(org.junit.jupiter.api.RepetitionInfo info) throws Exception {
        Random random = new Random(20261203L + info.getCurrentRepetition());
        byte[] key = new byte[32];
        random.nextBytes(key);
        byte[] plain = new byte[random.nextInt(20_000)];
        random.nextBytes(plain);
        String context = "vtpmback instance " + java.util.UUID.randomUUID();

        assertArrayEquals(plain, Sealer.open(key, context, bouncyCastleSeal(key, context, plain)));
        assertArrayEquals(plain, bouncyCastleOpen(key, context, Sealer.seal(key, context, plain)));
        assertArrayEquals(plain, Sealer.open(SealingKey.copyOf(key), context, Sealer.seal(SealingKey.copyOf(key), context, plain)));
    }

    @Test
    void anyFlippedBitAnotherContextOrAnotherKeyIsRefused() throws Exception {
        byte[] key = fixedKey();
        byte[] sealed = Sealer.seal(key, CONTEXT, "secret".getBytes(StandardCharsets.UTF_8));
        for (int bit = 0; bit < sealed.length * 8; bit++) {
            byte[] bad = sealed.clone();
            bad[bit / 8] ^= (byte) (1 << (bit % 8));
            assertThrows(SealedDataException.class, () -> Sealer.open(key, CONTEXT, bad), "bit " + bit);
        }
        assertThrows(SealedDataException.class, () -> Sealer.open(key, CONTEXT + "x", sealed));
        byte[] other = key.clone();
        other[0] ^= 1;
        assertThrows(SealedDataException.class, () -> Sealer.open(other, CONTEXT, sealed));
        for (int n = 0; n < sealed.length; n++) {
            byte[] cut = Arrays.copyOf(sealed, n);
            assertThrows(SealedDataException.class, () -> Sealer.open(key, CONTEXT, cut), "cut at " + n);
        }
    }

    @Test
    void aDestroyedKeyIsZeroedAndSealsNothing() {
        byte[] bytes = fixedKey();
        SealingKey key = new SealingKey(bytes);
        key.destroy();
        assertTrue(key.isDestroyed());
        assertArrayEquals(new byte[32], bytes);
        assertThrows(IllegalStateException.class, () -> Sealer.seal(key, CONTEXT, new byte[1]));
        key.destroy(); // idempotent
    }

    @Test
    void aClosedStoreWipesItsKeysAndRefusesToSave() throws Exception {
        MasterKey master = MasterKey.create(dir.resolve("master.key"));
        InstanceStore store = new InstanceStore(dir.resolve("instances"), master);
        store.save(InstanceStoreTest.record(InstanceStoreTest.UUID_A, 1, 100));
        store.close();
        assertThrows(IllegalStateException.class, () -> store.save(InstanceStoreTest.record(InstanceStoreTest.UUID_A, 2, 100)));
        InstanceStore again = new InstanceStore(dir.resolve("instances"), master);
        assertEquals(1, again.load(InstanceStoreTest.UUID_A).orElseThrow().generation());
    }

    private static byte[] bouncyCastleSeal(byte[] key, String context, byte[] plain) throws Exception {
        byte[] nonce = new byte[Sealer.NONCE_LENGTH];
        new Random().nextBytes(nonce);
        GCMModeCipher gcm = bouncyCastle(true, key, nonce, context);
        byte[] out = new byte[Sealer.HEADER + gcm.getOutputSize(plain.length)];
        System.arraycopy(Sealer.MAGIC, 0, out, 0, Sealer.MAGIC.length);
        System.arraycopy(nonce, 0, out, Sealer.MAGIC.length, Sealer.NONCE_LENGTH);
        int n = gcm.processBytes(plain, 0, plain.length, out, Sealer.HEADER);
        gcm.doFinal(out, Sealer.HEADER + n);
        return out;
    }

    private static byte[] bouncyCastleOpen(byte[] key, String context, byte[] sealed) throws Exception {
        assertArrayEquals(Sealer.MAGIC, Arrays.copyOf(sealed, Sealer.MAGIC.length));
        GCMModeCipher gcm = bouncyCastle(false, key, Arrays.copyOfRange(sealed, Sealer.MAGIC.length, Sealer.HEADER), context);
        byte[] out = new byte[gcm.getOutputSize(sealed.length - Sealer.HEADER)];
        int n = gcm.processBytes(sealed, Sealer.HEADER, sealed.length - Sealer.HEADER, out, 0);
        n += gcm.doFinal(out, n);
        return Arrays.copyOf(out, n);
    }

    private static GCMModeCipher bouncyCastle(boolean encrypt, byte[] key, byte[] nonce, String context) {
        GCMModeCipher gcm = GCMBlockCipher.newInstance(AESEngine.newInstance());
        gcm.init(encrypt, new AEADParameters(new KeyParameter(key), Sealer.TAG_BITS, nonce, context.getBytes(StandardCharsets.UTF_8)));
        return gcm;
    }
}
