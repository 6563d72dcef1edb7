package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord.EndKind;

class InstanceBundleTest {
    static final char[] PASS = "correct horse battery staple".toCharArray();
    static final int FAST = InstanceBundle.MIN_ITERATIONS; // keeps the test quick; the CLI uses the default

    static InstanceRecord record(Uuid uuid) {
        return new InstanceRecord(uuid, TpmFamily.TPM2, Instant.ofEpochMilli(1_700_000_000_000L), 7, EndKind.SUSPENDED,
                "permanent".getBytes(StandardCharsets.UTF_8),
                Optional.of(new InstanceRecord.Snapshot(EndKind.SUSPENDED, "volatile".getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void roundTripKeepsEverything() throws Exception {
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        InstanceRecord r = record(uuid);
        byte[] bundle = InstanceBundle.export(r, PASS, FAST);
        assertEquals(uuid, InstanceBundle.uuidOf(bundle));
        InstanceRecord back = InstanceBundle.open(bundle, PASS);
        assertArrayEquals(r.encode(), back.encode());
        assertTrue(new String(bundle, StandardCharsets.ISO_8859_1).indexOf("permanent") < 0, "no plaintext state in the bundle");
    }

    @Test
    void defaultWorkFactorRoundTrips() throws Exception {
        InstanceRecord r = record(new Uuid(UUID.randomUUID().toString()));
        assertArrayEquals(r.encode(), InstanceBundle.open(InstanceBundle.export(r, PASS), PASS).encode());
    }

    @Test
    void wrongPassphraseFails() {
        byte[] bundle = InstanceBundle.export(record(new Uuid(UUID.randomUUID().toString())), PASS, FAST);
        SealedDataException e = assertThrows(SealedDataException.class, () -> InstanceBundle.open(bundle, "wrong".toCharArray()));
        assertTrue(e.getMessage().contains("wrong passphrase"), e.getMessage());
    }

    @Test
    void everyFlippedByteOrTruncationFails() throws Exception {
        byte[] bundle = InstanceBundle.export(record(new Uuid(UUID.randomUUID().toString())), PASS, FAST);
        for (int i = 0; i < bundle.length; i += Math.max(1, bundle.length / 40)) {
            byte[] t = bundle.clone();
            t[i] ^= 0x01;
            assertThrows(SealedDataException.class, () -> InstanceBundle.open(t, PASS), "byte " + i);
        }
        for (int n : new int[] {0, 5, 30, bundle.length - 1}) {
            byte[] cut = Arrays.copyOf(bundle, n);
            assertThrows(SealedDataException.class, () -> InstanceBundle.open(cut, PASS), "cut to " + n);
        }
    }

    @Test
    void theUuidIsBound() throws Exception {
        Uuid a = new Uuid(UUID.randomUUID().toString());
        Uuid b = new Uuid(UUID.randomUUID().toString());
        byte[] bundle = InstanceBundle.export(record(a), PASS, FAST);
        // Claim another vTPM in the header (same length): the associated data no longer matches.
        byte[] swapped = new String(bundle, StandardCharsets.ISO_8859_1).replace(a.value(), b.value()).getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(b, InstanceBundle.uuidOf(swapped));
        SealedDataException e = assertThrows(SealedDataException.class, () -> InstanceBundle.open(swapped, PASS));
        assertTrue(e.getMessage().contains(b.value()), e.getMessage());
    }

    @Test
    void aStoreFileIsNotABundle() {
        byte[] sealed = Sealer.seal(new byte[32], "x", new byte[10]);
        SealedDataException e = assertThrows(SealedDataException.class, () -> InstanceBundle.open(sealed, PASS));
        assertTrue(e.getMessage().contains("not a vtpmback export bundle"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> InstanceBundle.export(record(new Uuid(UUID.randomUUID().toString())), new char[0]));
    }
}
