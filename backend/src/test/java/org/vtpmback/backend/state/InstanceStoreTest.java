package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceRecord.Snapshot;

class InstanceStoreTest {
    static final Uuid UUID_A = new Uuid("4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6");
    static final Uuid UUID_B = new Uuid("00000000-1111-2222-3333-444444444444");

    @TempDir
    Path dir;

    private InstanceStore store() throws IOException {
        return new InstanceStore(dir.resolve("instances"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
    }

    static InstanceRecord record(Uuid uuid, long generation, int size) {
        byte[] perm = new byte[size];
        new Random(generation).nextBytes(perm);
        return new InstanceRecord(uuid, TpmFamily.TPM2, Instant.ofEpochMilli(1_700_000_000_000L), generation, EndKind.SUSPENDED,
                perm, Optional.of(new Snapshot(EndKind.SUSPENDED, new byte[] {1, 2, 3})));
    }

    @Test
    void roundTripsAndNothingIsPlaintextOnDisk() throws Exception {
        InstanceStore store = store();
        InstanceRecord r = record(UUID_A, 7, 6000);
        store.save(r);
        InstanceRecord back = store.load(UUID_A).orElseThrow();
        assertEquals(7, back.generation());
        assertArrayEquals(r.permanent(), back.permanent());
        assertArrayEquals(new byte[] {1, 2, 3}, back.snapshot().orElseThrow().volatileState());
        byte[] onDisk = Files.readAllBytes(store.fileOf(UUID_A));
        assertFalse(indexOf(onDisk, java.util.Arrays.copyOf(r.permanent(), 32)) >= 0, "permanent blob visible in the file");
        assertFalse(new String(onDisk, java.nio.charset.StandardCharsets.ISO_8859_1).contains(UUID_A.value()), "uuid visible in the file");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store.fileOf(UUID_A))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("master.key"))));
        assertEquals(List.of(UUID_A), store.list());
        assertEquals(Optional.empty(), store.load(UUID_B));
    }

    @Test
    void everyFlippedBitAndEveryTruncationIsRefused() throws Exception {
        InstanceStore store = store();
        store.save(record(UUID_A, 1, 300));
        Path file = store.fileOf(UUID_A);
        byte[] good = Files.readAllBytes(file);
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= (byte) (1 << (i % 8));
            Files.write(file, bad);
            CorruptStateException e = assertThrows(CorruptStateException.class, () -> store.load(UUID_A), "flip at byte " + i);
            assertTrue(e.getMessage().contains(UUID_A.value()) && e.getMessage().contains(file.toString()), e.getMessage());
        }
        for (int len : new int[] {0, 1, 19, good.length / 2, good.length - 1}) {
            Files.write(file, java.util.Arrays.copyOf(good, len));
            assertThrows(CorruptStateException.class, () -> store.load(UUID_A), "truncated to " + len);
        }
        Files.write(file, good);
        assertEquals(1, store.load(UUID_A).orElseThrow().generation());
    }

    @Test
    void filesCannotBeSwappedBetweenInstancesOrHosts() throws Exception {
        InstanceStore store = store();
        store.save(record(UUID_A, 1, 100));
        Files.copy(store.fileOf(UUID_A), store.fileOf(UUID_B));
        assertTrue(assertThrows(CorruptStateException.class, () -> store.load(UUID_B)).getMessage().contains("authentication failed"));
        InstanceStore otherHost = new InstanceStore(dir.resolve("instances"), MasterKey.create(dir.resolve("other.key")));
        assertThrows(CorruptStateException.class, () -> otherHost.load(UUID_A));
    }

    @Test
    void leftoverTempFilesOfACrashAreCleanedAndIgnored() throws Exception {
        InstanceStore store = store();
        store.save(record(UUID_A, 2, 100));
        Path leftover = store.dir().resolve("." + UUID_A + ".vtpm.1234" + AtomicFiles.TEMP_SUFFIX);
        Files.write(leftover, new byte[] {1, 2});
        InstanceStore reopened = store();
        assertFalse(Files.exists(leftover));
        assertEquals(2, reopened.load(UUID_A).orElseThrow().generation());
    }

    @Test
    void aSecondProcessLeavesTheDaemonsTempFilesAlone() throws Exception {
        InstanceStore daemon = store();
        daemon.save(record(UUID_A, 2, 100));
        // The daemon is between "write temp file" and "rename" when `vtpmback list` opens the store.
        Path inFlight = daemon.dir().resolve("." + UUID_A + ".vtpm.5678" + AtomicFiles.TEMP_SUFFIX);
        Files.write(inFlight, new byte[] {1, 2});
        InstanceStore cli = InstanceStore.shared(daemon.dir(), MasterKey.load(daemon.masterKey().path()));
        assertTrue(Files.exists(inFlight), "deleting it would make the daemon's rename fail");
        assertEquals(List.of(UUID_A), cli.list());
        assertEquals(2, cli.load(UUID_A).orElseThrow().generation());
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
