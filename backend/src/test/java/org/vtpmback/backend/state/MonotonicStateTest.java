package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.state.InstanceRecord.EndKind;

/** Generations only move forward: an authentic but older record put back is refused, never loaded. */
class MonotonicStateTest {
    private static final Uuid UUID_A = InstanceStoreTest.UUID_A;

    @TempDir
    Path dir;

    private InstanceStore store() throws IOException {
        return new InstanceStore(dir.resolve("instances"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
    }

    private static void assertNamesBoth(String message, long stored, long anchored) {
        assertTrue(message.contains(UUID_A.value()) && message.contains("generation " + stored)
                && message.contains("generation " + anchored), message);
    }

    @Test
    void aRolledBackFileIsRefused() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 1, 100));
        Path old = Files.copy(store.fileOf(UUID_A), dir.resolve("old.vtpm"));
        store.save(InstanceStoreTest.record(UUID_A, 2, 100));
        store.save(InstanceStoreTest.record(UUID_A, 3, 100));
        Files.copy(old, store.fileOf(UUID_A), StandardCopyOption.REPLACE_EXISTING);

        RolledBackStateException e = assertThrows(RolledBackStateException.class, () -> store.load(UUID_A));
        assertNamesBoth(e.getMessage(), 1, 3);
        assertTrue(e.getMessage().contains(store.fileOf(UUID_A).toString()), e.getMessage());
        assertEquals(1, e.storedGeneration());
        assertEquals(3, e.anchoredGeneration());
        // a second process (vtpmback list) and a restarted daemon refuse it too; nothing was changed
        assertThrows(RolledBackStateException.class, () -> InstanceStore.shared(store.dir(), store.masterKey()).load(UUID_A));
        assertThrows(RolledBackStateException.class, () -> store().load(UUID_A));
        assertArrayEquals(Files.readAllBytes(old), Files.readAllBytes(store.fileOf(UUID_A)));
    }

    @Test
    void aConsumedSnapshotPutBackIsRefused() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 4, 100)); // SUSPENDED, with a snapshot
        Path suspended = Files.copy(store.fileOf(UUID_A), dir.resolve("suspended.vtpm"));
        // the resume consumes it: the RUNNING record right after the start has no snapshot
        InstanceRecord resumed = store.load(UUID_A).orElseThrow();
        store.save(resumed.withSave(5, EndKind.RUNNING, resumed.permanent(), Optional.empty()));
        Files.copy(suspended, store.fileOf(UUID_A), StandardCopyOption.REPLACE_EXISTING);
        assertNamesBoth(assertThrows(RolledBackStateException.class, () -> store.load(UUID_A)).getMessage(), 4, 5);
    }

    @Test
    void aSaveThatDoesNotMoveForwardIsRefusedAndWritesNothing() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 3, 100));
        byte[] before = Files.readAllBytes(store.fileOf(UUID_A));
        StaleGenerationException e = assertThrows(StaleGenerationException.class, () -> store.save(InstanceStoreTest.record(UUID_A, 3, 200)));
        assertNamesBoth(e.getMessage(), 3, 3);
        assertThrows(StaleGenerationException.class, () -> store.save(InstanceStoreTest.record(UUID_A, 2, 200)));
        assertArrayEquals(before, Files.readAllBytes(store.fileOf(UUID_A)));
    }

    @Test
    void anOlderBundleIsRefusedUnlessTheOperatorAllowsTheRollback() throws Exception {
        InstanceStore store = store();
        InstanceRecord exported = InstanceStoreTest.record(UUID_A, 5, 100);
        store.save(exported);
        store.save(InstanceStoreTest.record(UUID_A, 6, 120));
        store.save(InstanceStoreTest.record(UUID_A, 7, 140));

        StaleGenerationException e = assertThrows(StaleGenerationException.class, () -> store.importRecord(exported, false));
        assertNamesBoth(e.getMessage(), 5, 7);
        assertTrue(e.getMessage().contains("--allow-rollback"), e.getMessage());
        assertEquals(7, store.load(UUID_A).orElseThrow().generation());

        InstanceRecord stored = store.importRecord(exported, true);
        assertEquals(8, stored.generation(), "stored above the mark, so the mark still only moves forward");
        InstanceRecord back = store.load(UUID_A).orElseThrow();
        assertEquals(8, back.generation());
        assertArrayEquals(exported.permanent(), back.permanent());

        // a newer bundle needs no permission and keeps its generation
        assertEquals(20, store.importRecord(InstanceStoreTest.record(UUID_A, 20, 100), false).generation());
    }

    @Test
    void deletingRetiresTheMarkSoACopyPutBackIsRefused() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 9, 100));
        Path copy = Files.copy(store.fileOf(UUID_A), dir.resolve("copy.vtpm"));
        assertTrue(store.delete(UUID_A));
        assertEquals(Optional.empty(), store.load(UUID_A));
        Files.copy(copy, store.fileOf(UUID_A));
        RolledBackStateException e = assertThrows(RolledBackStateException.class, () -> store.load(UUID_A));
        assertTrue(e.getMessage().contains("deleted the vTPM at generation 9"), e.getMessage());
        assertTrue(store.delete(UUID_A));
        // a new vTPM of the same uuid starts above the retired mark, and is then loaded normally
        assertEquals(10, store.nextGeneration(UUID_A));
        store.save(InstanceStoreTest.record(UUID_A, store.nextGeneration(UUID_A), 100));
        assertEquals(10, store.load(UUID_A).orElseThrow().generation());
        assertFalse(store.delete(InstanceStoreTest.UUID_B), "nothing stored");
    }

    @Test
    void aCrashBetweenRecordAndAnchorLeavesTheRecordLoadableAndTheMarkCatchesUp() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 1, 100));
        store.save(InstanceStoreTest.record(UUID_A, 2, 100));
        Path previous = Files.copy(store.fileOf(UUID_A), dir.resolve("g2.vtpm"));
        Path anchorAt2 = Files.copy(store.anchorFile(), dir.resolve("anchor-g2"));
        store.save(InstanceStoreTest.record(UUID_A, 3, 100));
        // as if the daemon died after committing record 3 but before raising the mark
        Files.copy(anchorAt2, store.anchorFile(), StandardCopyOption.REPLACE_EXISTING);

        InstanceStore restarted = store();
        assertEquals(3, restarted.load(UUID_A).orElseThrow().generation(), "a record may be ahead of its mark");
        Files.copy(previous, restarted.fileOf(UUID_A), StandardCopyOption.REPLACE_EXISTING);
        assertNamesBoth(assertThrows(RolledBackStateException.class, () -> restarted.load(UUID_A)).getMessage(), 2, 3);
    }

    @Test
    void anUnreadableAnchorIsALoudRefusalNotASilentPass() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 1, 100));
        byte[] a = Files.readAllBytes(store.anchorFile());
        a[a.length - 1] ^= 1;
        Files.write(store.anchorFile(), a);
        CorruptStateException e = assertThrows(CorruptStateException.class, () -> store.load(UUID_A));
        assertTrue(e.getMessage().contains(store.anchorFile().toString()) && e.getMessage().contains(UUID_A.value()), e.getMessage());
        assertThrows(IOException.class, () -> store.save(InstanceStoreTest.record(UUID_A, 2, 100)));
    }

    @Test
    void recordsFromBeforeTheAnchorAreAdoptedOnLoad() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 4, 100));
        Path older = Files.copy(store.fileOf(UUID_A), dir.resolve("g4.vtpm"));
        store.save(InstanceStoreTest.record(UUID_A, 5, 100));
        Files.delete(store.anchorFile()); // an install from before the anchor existed
        InstanceStore upgraded = store();
        assertEquals(5, upgraded.load(UUID_A).orElseThrow().generation());
        Files.copy(older, upgraded.fileOf(UUID_A), StandardCopyOption.REPLACE_EXISTING);
        assertThrows(RolledBackStateException.class, () -> upgraded.load(UUID_A));
    }
}
