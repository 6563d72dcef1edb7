package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.params.HKDFParameters;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;

/** The HKDF gives RFC 5869's answers and Bouncy Castle's, which derived every key sealed so far; its HMAC is the JDK's. */
class HkdfSha256Test {
    private static final long SEED = 0x5eed_4b0fL;

    /** RFC 5869, appendix A.3 (SHA-256, no salt, no info): the one test case without a salt. */
    @Test
    void rfc5869TestCase3() {
        byte[] ikm = new byte[22];
        Arrays.fill(ikm, (byte) 0x0b);
        byte[] okm = HexFormat.of().parseHex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                + "9d201395faa4b61a96c8");
        assertArrayEquals(okm, HkdfSha256.derive(ikm, new byte[0], 42));
    }

    /** Lengths across block boundaries (32, 64), master-key-sized and odd inputs. */
    @RepeatedTest(200)
    void sameBytesAsBouncyCastle(RepetitionInfo rep) {
        Random r = new Random(SEED + rep.getCurrentRepetition());
        byte[] ikm = bytes(r, rep.getCurrentRepetition() % 3 == 0 ? MasterKey.LENGTH : 1 + r.nextInt(80));
        byte[] info = bytes(r, r.nextInt(120));
        int length = 1 + r.nextInt(100);
        HKDFBytesGenerator bc = new HKDFBytesGenerator(new SHA256Digest());
        bc.init(new HKDFParameters(ikm, null, info));
        byte[] expected = new byte[length];
        bc.generateBytes(expected, 0, length);
        assertArrayEquals(expected, HkdfSha256.derive(ikm, info, length));
    }

    /** Keys shorter than, as long as and longer than SHA-256's 64-byte block (hashed first), texts in several parts. */
    @RepeatedTest(100)
    void hmacIsTheJdksHmacSha256(RepetitionInfo rep) throws Exception {
        Random r = new Random(SEED * 31 + rep.getCurrentRepetition());
        byte[] key = bytes(r, 1 + r.nextInt(150));
        byte[] a = bytes(r, r.nextInt(100));
        byte[] b = bytes(r, r.nextInt(100));
        Mac jdk = Mac.getInstance("HmacSHA256");
        jdk.init(new SecretKeySpec(key, "HmacSHA256"));
        jdk.update(a);
        assertArrayEquals(jdk.doFinal(b), HkdfSha256.hmac(key, a, b));
    }

    @Test
    void refusesLengthsHkdfCannotMake() {
        assertThrows(IllegalArgumentException.class, () -> HkdfSha256.derive(new byte[32], new byte[0], 0));
        assertThrows(IllegalArgumentException.class, () -> HkdfSha256.derive(new byte[32], new byte[0], HkdfSha256.MAX_LENGTH + 1));
    }

    private static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }
}
