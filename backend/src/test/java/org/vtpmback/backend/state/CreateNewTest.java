package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord.EndKind;

/**
 * {@link InstanceStore#create}, the one way a new vTPM is stored (a daemon's first start, {@code vtpmback create}):
 * never over a stored one, generation past a deleted one's mark, and of two at once exactly one wins.
 */
@Timeout(60)
class CreateNewTest {
    private static final Uuid UUID_A = InstanceStoreTest.UUID_A;

    @TempDir
    Path dir;

    private InstanceStore store() throws IOException {
        return new InstanceStore(dir.resolve("instances"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
    }

    @Test
    void storesANewRecordWithItsFamilyAndRefusesAStoredUuid() throws Exception {
        InstanceStore store = store();
        InstanceRecord made = store.create(UUID_A, TpmFamily.TPM12, new byte[] {1, 2, 3});
        assertEquals(1, made.generation());
        assertEquals(EndKind.NEW, made.lastEnd());
        InstanceRecord back = store.load(UUID_A).orElseThrow();
        assertEquals(TpmFamily.TPM12, back.family(), "the family is stored: the daemon's configuration no longer decides it");
        assertArrayEquals(new byte[] {1, 2, 3}, back.permanent());
        assertEquals(Optional.empty(), back.snapshot());

        byte[] before = Files.readAllBytes(store.fileOf(UUID_A));
        AlreadyStoredException e = assertThrows(AlreadyStoredException.class,
                () -> store.create(UUID_A, TpmFamily.TPM2, new byte[] {7}));
        assertTrue(e.getMessage().contains(UUID_A.value()) && e.getMessage().contains(store.fileOf(UUID_A).toString()),
                e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(store.fileOf(UUID_A)), "nothing was written");
    }

    @Test
    void aUuidDeletedBeforeIsCreatedAboveItsRetiredMark() throws Exception {
        InstanceStore store = store();
        store.save(InstanceStoreTest.record(UUID_A, 9, 100));
        store.delete(UUID_A);
        assertEquals(10, store.create(UUID_A, TpmFamily.TPM2, new byte[] {1}).generation());
        assertEquals(10, store.load(UUID_A).orElseThrow().generation(), "loads: the mark came back to life at 10");
    }

    @Test
    void ofTwoStoresCreatingOneUuidAtOnceExactlyOneWins() throws Exception {
        // two threads here; the daemon and 'vtpmback create' are two processes, serialised by the same lock
        // (one JVM must not lock one file twice: GenerationAnchor queues its threads before the file lock)
        InstanceStore store = store();
        for (int round = 0; round < 20; round++) {
            Uuid uuid = new Uuid(String.format("00000000-0000-4000-8000-%012d", round));
            CountDownLatch go = new CountDownLatch(1);
            ExecutorService two = Executors.newFixedThreadPool(2);
            try {
                List<Future<InstanceRecord>> tries = new ArrayList<>();
                for (byte b = 1; b <= 2; b++) {
                    byte[] permanent = {b};
                    tries.add(two.submit(() -> {
                        go.await();
                        return store.create(uuid, TpmFamily.TPM2, permanent);
                    }));
                }
                go.countDown();
                List<InstanceRecord> won = new ArrayList<>();
                int refused = 0;
                for (Future<InstanceRecord> f : tries) {
                    try {
                        won.add(f.get());
                    } catch (java.util.concurrent.ExecutionException x) {
                        assertTrue(x.getCause() instanceof AlreadyStoredException, x.getCause().toString());
                        refused++;
                    }
                }
                assertEquals(1, won.size(), "round " + round);
                assertEquals(1, refused, "round " + round);
                assertArrayEquals(won.get(0).permanent(), store.load(uuid).orElseThrow().permanent(), "the winner is stored");
            } finally {
                two.shutdownNow();
            }
        }
    }
}
