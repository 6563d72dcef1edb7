package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second process (the {@code vtpmback} commands, a test's look at the store) reads a vTPM while the daemon commits
 * it: it must see one committed generation or a later one, never a false rollback. A load that read the record and
 * then the anchor could pair the old record with the new mark (the daemon commits the record, then raises the mark)
 * and refuse a valid state as rolled back: 4-19 of about 5,000 loads during 300 saves did before the load read the mark first.
 */
class ConcurrentReaderTest {
    private static final Uuid UUID_A = InstanceStoreTest.UUID_A;
    /** Commits the daemon makes while the reader loads: a full save costs four fsyncs, a checkpoint shares one. */
    private static final int SAVES = 300;
    private static final int CHECKPOINTS = 5_000;

    @TempDir
    Path dir;

    /** Full saves: the record file, then the mark. */
    @Test
    void aReaderDuringSavesNeverSeesARollback() throws Exception {
        MasterKey key = MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances"));
        try (InstanceStore daemon = new InstanceStore(dir.resolve("instances"), key)) {
            readWhileCommitting(daemon, key, false);
        }
    }

    /** Checkpoints into the commit log, folded into the record file and the mark every few milliseconds meanwhile. */
    @Test
    void aReaderDuringCheckpointsAndFoldsNeverSeesARollback() throws Exception {
        MasterKey key = MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances"));
        try (InstanceStore daemon = new InstanceStore(dir.resolve("instances"), key, Duration.ofMillis(3), UnaryOperator.identity())) {
            readWhileCommitting(daemon, key, true);
        }
    }

    private void readWhileCommitting(InstanceStore daemon, MasterKey key, boolean checkpoints) throws Exception {
        daemon.save(InstanceStoreTest.record(UUID_A, 1, 100));
        InstanceStore reader = InstanceStore.shared(dir.resolve("instances"), key);
        AtomicBoolean done = new AtomicBoolean();
        long commits = checkpoints ? CHECKPOINTS : SAVES;
        CompletableFuture<Long> writer = CompletableFuture.supplyAsync(() -> {
            long g = 1;
            try {
                while (g <= commits) {
                    g++;
                    if (checkpoints) {
                        daemon.checkpoint(InstanceStoreTest.record(UUID_A, g, 100));
                    } else {
                        daemon.save(InstanceStoreTest.record(UUID_A, g, 100));
                    }
                }
                return g;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            } finally {
                done.set(true);
            }
        });
        int loads = 0;
        int falseRollbacks = 0;
        long last = 0;
        while (!done.get()) {
            try {
                long g = reader.load(UUID_A).orElseThrow().generation();
                assertTrue(g >= last, "generation " + g + " read after " + last);
                last = g;
            } catch (RolledBackStateException e) {
                falseRollbacks++;
            }
            loads++;
        }
        long committed = writer.join();
        System.out.printf("%d loads during %d %s: %d false rollback alarms%n", loads, committed - 1,
                checkpoints ? "checkpoints" : "saves", falseRollbacks);
        assertEquals(0, falseRollbacks, "loads that refused a committed state as rolled back, of " + loads);
        assertEquals(committed, reader.load(UUID_A).orElseThrow().generation());
    }
}
