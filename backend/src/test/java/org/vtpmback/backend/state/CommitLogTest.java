package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_A;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_B;
import static org.vtpmback.backend.state.InstanceStoreTest.record;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's checkpoints through the commit log (docs/reliability.md, "Checkpoints"): what is acknowledged is
 * read back by the daemon, by a second process and after a crash; a switch of logs carries unfolded entries over;
 * concurrent checkpoints of different vTPMs share fdatasyncs; a cut or torn last group loses nothing before it;
 * a log put back to an older copy is refused at start.
 */
@Timeout(120)
class CommitLogTest {
    @TempDir
    Path dir;
    private StoreFolder folder;
    private MasterKey key;

    @BeforeEach
    void folder() throws IOException {
        folder = new StoreFolder(dir);
        key = folder.key;
    }

    private InstanceStore daemon() throws IOException {
        return folder.daemon();
    }

    private InstanceStore otherProcess() throws IOException {
        return folder.otherProcess();
    }

    @Test
    void checkpointsAreReadFromTheLogUntilFoldedAtClose() throws Exception {
        InstanceStore store = daemon();
        store.save(record(UUID_A, 1, 6000));
        for (long g = 2; g <= 20; g++) {
            store.checkpoint(record(UUID_A, g, 6000));
        }
        assertEquals(19, store.logSyncs(), "one fdatasync per checkpoint of a single vTPM");
        assertEquals(1, store.fileGeneration(UUID_A), "the record file waits for the fold");
        assertArrayEquals(record(UUID_A, 20, 6000).permanent(), store.load(UUID_A).orElseThrow().permanent());
        assertEquals(20, otherProcess().load(UUID_A).orElseThrow().generation());
        store.close();
        assertEquals(20, otherProcess().fileGeneration(UUID_A));
        assertEquals(20, daemon().load(UUID_A).orElseThrow().generation());
    }

    @Test
    void aCrashLeavesTheLogAndTheNextStartFoldsIt() throws Exception {
        InstanceStore crashed = daemon();
        crashed.save(record(UUID_A, 1, 6000));
        for (long g = 2; g <= 10; g++) {
            crashed.checkpoint(record(UUID_A, g, 6000));
        }
        InstanceStore next = daemon(); // never closed: as after kill -9 or a power cut
        assertEquals(10, next.fileGeneration(UUID_A));
        assertEquals(10, next.load(UUID_A).orElseThrow().generation());
        assertThrows(StaleGenerationException.class, () -> next.checkpoint(record(UUID_A, 10, 6000)));
        assertThrows(StaleGenerationException.class, () -> next.save(record(UUID_A, 9, 6000)));
    }

    @Test
    void aSwitchOfLogsCarriesUnfoldedEntriesOver() throws Exception {
        InstanceStore store = daemon();
        store.save(record(UUID_A, 1, 6000));
        store.checkpoint(record(UUID_A, 2, 6000)); // only in the first epoch's log
        store.save(record(UUID_B, 1, 6000));
        int big = 400_000;
        long last = 1 + 3 * CommitLog.SIZE / big; // three logs' worth: at least two switches
        for (long g = 2; g <= last; g++) {
            store.checkpoint(record(UUID_B, g, big));
        }
        assertEquals(1, store.fileGeneration(UUID_A), "A was never folded, only carried from log to log");
        assertEquals(2, otherProcess().load(UUID_A).orElseThrow().generation());
        InstanceStore next = daemon(); // crash
        assertArrayEquals(record(UUID_A, 2, 6000).permanent(), next.load(UUID_A).orElseThrow().permanent());
        assertEquals(last, next.load(UUID_B).orElseThrow().generation());
    }

    @Test
    void concurrentCheckpointsOfDifferentVtpmsShareSyncs() throws Exception {
        InstanceStore store = daemon();
        int vtpms = 16;
        int each = 30;
        List<Uuid> uuids = new ArrayList<>();
        for (int i = 0; i < vtpms; i++) {
            Uuid u = new Uuid(String.format("%08x-0000-4000-8000-000000000000", i));
            uuids.add(u);
            store.save(record(u, 1, 12_000));
        }
        CyclicBarrier start = new CyclicBarrier(vtpms);
        ExecutorService pool = Executors.newFixedThreadPool(vtpms);
        List<Future<?>> done = new ArrayList<>();
        for (Uuid u : uuids) {
            done.add(pool.submit(() -> {
                start.await();
                for (long g = 2; g <= 1 + each; g++) {
                    store.checkpoint(record(u, g, 12_000));
                }
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get();
        }
        pool.shutdown();
        long syncs = store.logSyncs();
        System.out.printf("group commit: %d checkpoints of %d vTPMs in %d fdatasyncs%n", vtpms * each, vtpms, syncs);
        assertTrue(syncs < (long) vtpms * each, syncs + " fdatasyncs for " + vtpms * each + " checkpoints: no group was shared");
        InstanceStore next = daemon(); // crash
        for (Uuid u : uuids) {
            assertEquals(1 + each, next.load(u).orElseThrow().generation(), u.value());
        }
    }

    @Test
    void aLogPutBackToAnOlderCopyIsRefusedAtStart() throws Exception {
        InstanceStore store = daemon();
        store.save(record(UUID_A, 1, 6000));
        for (long g = 2; g <= 5; g++) {
            store.checkpoint(record(UUID_A, g, 6000));
        }
        store.close();
        Path old = Files.createDirectories(dir.resolve("old-logs"));
        for (String f : CommitLog.FILES) {
            Files.copy(dir.resolve("instances").resolve(f), old.resolve(f));
        }
        InstanceStore later = daemon();
        for (long g = 6; g <= 9; g++) {
            later.checkpoint(record(UUID_A, g, 6000));
        }
        later.close();
        for (String f : CommitLog.FILES) {
            Files.copy(old.resolve(f), dir.resolve("instances").resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        IOException e = assertThrows(IOException.class, this::daemon);
        assertTrue(e.getMessage().contains("rolled back"), e.getMessage());
    }

    @Test
    void aDeletedVtpmsCheckpointsStayDead() throws Exception {
        InstanceStore store = daemon();
        store.save(record(UUID_A, 1, 6000));
        store.checkpoint(record(UUID_A, 2, 6000));
        store.checkpoint(record(UUID_A, 3, 6000));
        assertTrue(store.delete(UUID_A));
        assertTrue(store.load(UUID_A).isEmpty());
        assertTrue(otherProcess().load(UUID_A).isEmpty());
        InstanceStore next = daemon(); // crash: the log still holds generation 3
        assertTrue(next.load(UUID_A).isEmpty());
        assertFalse(Files.exists(next.fileOf(UUID_A)), "a fold must not bring a deleted vTPM back");
    }

    @Test
    void aSecondProcessRespectsWhatOnlyTheLogHolds() throws Exception {
        InstanceStore store = daemon();
        store.save(record(UUID_A, 1, 6000));
        for (long g = 2; g <= 4; g++) {
            store.checkpoint(record(UUID_A, g, 6000));
        }
        InstanceStore other = otherProcess();
        assertEquals(4, other.load(UUID_A).orElseThrow().generation());
        assertThrows(StaleGenerationException.class, () -> other.save(record(UUID_A, 3, 6000)));
        assertThrows(StaleGenerationException.class, () -> other.importRecord(record(UUID_A, 2, 6000), false));
        assertEquals(5, other.nextGeneration(UUID_A));
    }

    @Test
    void aCutOrTornLastGroupLosesNothingBeforeIt() throws Exception {
        Map<Uuid, SealingKey> keys = new HashMap<>();
        Function<Uuid, SealingKey> keyOf = u -> keys.computeIfAbsent(u, x -> key.sealingKey(x.value(), "instance-state"));
        LogEntry.Epoch epoch = LogEntry.Epoch.after(7);
        List<InstanceRecord> written = new ArrayList<>();
        List<Integer> groupStarts = new ArrayList<>();
        ByteBuffer log = ByteBuffer.allocate(64 * 1024);
        for (long g = 1; g <= 6; g++) { // groups of 1, 2, 1, 2... entries, as group commit makes them
            groupStarts.add(log.position());
            for (Uuid u : g % 2 == 0 ? List.of(UUID_A, UUID_B) : List.of(UUID_A)) {
                InstanceRecord r = record(u, g, 300);
                written.add(r);
                log.put(LogEntry.seal(keyOf.apply(u), epoch, r));
            }
            log.position(CommitLog.align(log.position()));
        }
        int lastGroup = groupStarts.get(groupStarts.size() - 1);
        int end = log.position();
        List<InstanceRecord> before = written.subList(0, written.size() - 2);
        Random random = new Random(20261203);
        for (int cut = lastGroup; cut <= end; cut++) {
            for (boolean garbage : new boolean[] {false, true}) {
                ByteBuffer copy = ByteBuffer.allocate(log.capacity());
                copy.put(log.array(), 0, cut);
                if (garbage) {
                    byte[] noise = new byte[end - cut];
                    random.nextBytes(noise);
                    copy.put(noise);
                }
                copy.clear();
                List<String> read = ids(LogReader.parse(copy, keyOf).records());
                assertTrue(read.size() >= before.size() && read.subList(0, before.size()).equals(ids(before)),
                        "cut at " + cut + (garbage ? " with garbage" : "") + ": an earlier group was lost");
                assertEquals(ids(written.subList(0, read.size())), read, "cut at " + cut + ": not a prefix of what was written");
            }
        }
        ByteBuffer torn = ByteBuffer.wrap(log.array().clone());
        torn.put(lastGroup + LogEntry.HEADER + 100, (byte) (torn.get(lastGroup + LogEntry.HEADER + 100) ^ 1));
        assertEquals(ids(before), ids(LogReader.parse(torn, keyOf).records()), "a flipped bit in the last group ends the log there");
    }

    /** Records as comparable text: uuid, generation and the permanent state's bytes (a record compares arrays by reference). */
    private static List<String> ids(List<InstanceRecord> records) {
        return records.stream().map(r -> r.uuid() + "/" + r.generation() + "/" + java.util.HexFormat.of().formatHex(r.permanent())).toList();
    }

    @Test
    void anOlderEpochAfterTheEndIsNotRead() throws Exception {
        Map<Uuid, SealingKey> keys = new HashMap<>();
        Function<Uuid, SealingKey> keyOf = u -> keys.computeIfAbsent(u, x -> key.sealingKey(x.value(), "instance-state"));
        ByteBuffer log = ByteBuffer.allocate(64 * 1024);
        LogEntry.Epoch older = LogEntry.Epoch.after(1);
        for (long g = 1; g <= 8; g++) {
            log.put(LogEntry.seal(keyOf.apply(UUID_A), older, record(UUID_A, g, 300)));
            log.position(CommitLog.align(log.position()));
        }
        log.position(0);
        LogEntry.Epoch newer = LogEntry.Epoch.after(2);
        List<InstanceRecord> now = List.of(record(UUID_B, 1, 300), record(UUID_B, 2, 300));
        for (InstanceRecord r : now) {
            log.put(LogEntry.seal(keyOf.apply(UUID_B), newer, r));
            log.position(CommitLog.align(log.position()));
        }
        LogReader.Contents c = LogReader.parse(ByteBuffer.wrap(log.array()), keyOf);
        assertEquals(ids(now), ids(c.records()));
        assertEquals(newer, c.epoch().orElseThrow());
        assertEquals(2L * CommitLog.ALIGN, c.end());
    }
}
