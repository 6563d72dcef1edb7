package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

/**
 * {@link InstanceStore#take}, how a pool entry is bound: taken once, by one taker of two, and a copy of its file
 * put back (or left by a crash before the delete) never loads or is taken again.
 */
@Timeout(60)
class TakeTest {
    private static final Uuid UUID_A = InstanceStoreTest.UUID_A;

    @TempDir
    Path dir;

    private InstanceStore store() throws IOException {
        return new InstanceStore(dir.resolve("pool"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
    }

    @Test
    void aRecordIsTakenOnceAndACopyPutBackIsRefused() throws Exception {
        InstanceStore store = store();
        store.create(UUID_A, TpmFamily.TPM2, new byte[] {4, 5, 6});
        byte[] copy = Files.readAllBytes(store.fileOf(UUID_A));

        InstanceRecord taken = store.take(UUID_A).orElseThrow();
        assertArrayEquals(new byte[] {4, 5, 6}, taken.permanent());
        assertFalse(Files.exists(store.fileOf(UUID_A)));
        assertEquals(Optional.empty(), store.take(UUID_A), "nothing left to take");

        Files.write(store.fileOf(UUID_A), copy); // a crash between the retired mark and the delete leaves just this
        assertThrows(RolledBackStateException.class, () -> store.load(UUID_A));
        assertThrows(RolledBackStateException.class, () -> store.take(UUID_A));
        assertThrows(RolledBackStateException.class, () -> store().load(UUID_A), "also for the next daemon's store");
    }

    @Test
    void ofTwoTakersAtOnceExactlyOneGetsIt() throws Exception {
        InstanceStore store = store();
        for (int round = 0; round < 20; round++) {
            Uuid uuid = new Uuid(String.format("00000000-0000-4000-8000-%012d", round));
            store.create(uuid, TpmFamily.TPM2, new byte[] {(byte) round});
            CountDownLatch go = new CountDownLatch(1);
            ExecutorService two = Executors.newFixedThreadPool(2);
            try {
                List<Future<Optional<InstanceRecord>>> tries = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    tries.add(two.submit(() -> {
                        go.await();
                        try {
                            return store.take(uuid);
                        } catch (RolledBackStateException e) {
                            return Optional.<InstanceRecord>empty(); // the other took it before this one loaded it
                        }
                    }));
                }
                go.countDown();
                int got = 0;
                for (Future<Optional<InstanceRecord>> f : tries) {
                    got += f.get().isPresent() ? 1 : 0;
                }
                assertEquals(1, got, "round " + round);
                assertTrue(store.list().isEmpty(), "round " + round);
            } finally {
                two.shutdownNow();
            }
        }
    }
}
