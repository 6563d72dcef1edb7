package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_A;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_B;
import static org.vtpmback.backend.state.InstanceStoreTest.record;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reload's successor opens its store while the old daemon still holds the commit log (docs/reliability.md,
 * "Checkpoints"): two daemon stores of one folder in this JVM, the old one holding the log's lock until it closes
 * (LogFiles counts this JVM's own lock as held), as the old daemon's process does. The successor gets the log once
 * it is free, writes an epoch after the one the old daemon ended with, and a crash of the successor loses no
 * acknowledged checkpoint of either daemon.
 */
@Timeout(120)
class CommitLogHandOverTest {
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

    @Test
    void aSuccessorThatFoundTheLogHeldUsesItOnceTheOldDaemonLetItGo() throws Exception {
        InstanceStore old = daemon();
        old.save(record(UUID_A, 1, 6000));
        old.checkpoint(record(UUID_A, 2, 6000)); // the old daemon has the log
        InstanceStore successor = daemon();
        successor.save(record(UUID_B, 1, 6000));
        try (FoldAlarmLog lines = new FoldAlarmLog(Checkpoints.class)) {
            successor.checkpoint(record(UUID_B, 2, 6000));
            assertEquals(0, successor.logSyncs(), "the log is held: a full save");
            assertEquals(2, successor.fileGeneration(UUID_B));
            old.close();
            long g = 2;
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (successor.logSyncs() == 0 && System.nanoTime() < deadline) {
                successor.checkpoint(record(UUID_B, ++g, 6000)); // full saves until the next try, at most a second later
                Thread.sleep(50);
            }
            assertEquals(1, successor.logSyncs(), "the successor never took the log the old daemon released");
            successor.checkpoint(record(UUID_B, ++g, 6000));
            assertEquals(2, successor.logSyncs());
            assertEquals(1, lines.count(Level.WARNING), "one WARNING when found held");
            assertTrue(lines.records().stream().anyMatch(r -> r.getLevel() == Level.INFO
                    && FoldAlarmLog.format(r).contains("commit log")), "one line when the log is used after all");
            InstanceStore next = daemon(); // the successor crashes
            assertEquals(g, next.load(UUID_B).orElseThrow().generation());
            assertEquals(2, next.load(UUID_A).orElseThrow().generation());
        }
    }

    /**
     * The old daemon switches logs after the successor read them (a full log; any later epoch would do), then closes,
     * recording the new epoch and its length in the anchor. The successor's first epoch must come after that one: the
     * same sequence again, with less written, would read as a log rolled back, and the next start would refuse it.
     */
    @Test
    void aSuccessorStartsAnEpochAfterTheOneTheOldDaemonEndedWith() throws Exception {
        InstanceStore old = daemon();
        old.save(record(UUID_A, 1, 6000));
        old.checkpoint(record(UUID_A, 2, 6000)); // epoch 1
        InstanceStore successor = daemon(); // reads the logs: epoch 1 is the newest
        old.save(record(UUID_B, 1, 6000));
        int big = 400_000;
        long last = 1 + 3 * CommitLog.SIZE / big / 2; // a log and a half: one switch, to epoch 2
        for (long g = 2; g <= last; g++) {
            old.checkpoint(record(UUID_B, g, big));
        }
        assertEquals(2, newestEpoch(), "the old daemon switched logs once");
        old.close(); // folds, and records epoch 2 and its length in the anchor
        successor.checkpoint(record(UUID_A, 3, 6000));
        assertEquals(1, successor.logSyncs(), "the successor took the log");
        InstanceStore next = daemon(); // the successor crashes
        assertArrayEquals(record(UUID_A, 3, 6000).permanent(), next.load(UUID_A).orElseThrow().permanent());
        assertEquals(last, next.load(UUID_B).orElseThrow().generation());
    }

    /** The reload of the brief: both daemons checkpoint, the successor crashes, a third start finds everything. */
    @Test
    void aSuccessorsCrashLosesNoCheckpointOfEitherDaemon() throws Exception {
        InstanceStore old = daemon();
        old.save(record(UUID_A, 1, 6000));
        old.checkpoint(record(UUID_A, 2, 6000));
        old.checkpoint(record(UUID_A, 3, 6000));
        InstanceStore successor = daemon();
        old.checkpoint(record(UUID_A, 4, 6000));
        old.close();
        assertEquals(4, successor.load(UUID_A).orElseThrow().generation(), "the old daemon's close folded generation 4");
        successor.checkpoint(record(UUID_A, 5, 6000));
        assertEquals(1, successor.logSyncs(), "generation 5 is only in the log");
        InstanceStore next = daemon(); // the successor crashes: never closed
        assertArrayEquals(record(UUID_A, 5, 6000).permanent(), next.load(UUID_A).orElseThrow().permanent());
        assertEquals(5, next.load(UUID_A).orElseThrow().generation());
    }

    /**
     * The old daemon dies after the successor read the logs (kill -9: its lock goes with its process, nothing is folded),
     * leaving checkpoints only in its log. The successor folds them when it takes the log, before its own epochs write
     * over that log: after a switch of logs and a crash of the successor they are still there.
     */
    @Test
    void aSuccessorKeepsWhatAnOldDaemonThatDiedLeftInTheLog() throws Exception {
        List<FileChannel> oldChannels = new ArrayList<>();
        InstanceStore old = folder.daemon(StoreFolder.NEVER, c -> {
            oldChannels.add(c);
            return c;
        });
        old.save(record(UUID_A, 1, 6000));
        old.checkpoint(record(UUID_A, 2, 6000));
        InstanceStore successor = daemon();
        old.checkpoint(record(UUID_A, 3, 6000));
        old.checkpoint(record(UUID_A, 4, 6000));
        for (FileChannel c : oldChannels) {
            c.close(); // the process is gone: its lock with it
        }
        successor.save(record(UUID_B, 1, 6000));
        successor.checkpoint(record(UUID_B, 2, 6000));
        assertEquals(1, successor.logSyncs(), "the successor took the log");
        assertEquals(4, successor.fileGeneration(UUID_A), "what the old daemon left in the log is folded");
        int big = 400_000;
        long last = 2 + 3 * CommitLog.SIZE / big / 2; // a log and a half: the successor writes over both logs
        for (long g = 3; g <= last; g++) {
            successor.checkpoint(record(UUID_B, g, big));
        }
        InstanceStore next = daemon(); // the successor crashes
        assertArrayEquals(record(UUID_A, 4, 6000).permanent(), next.load(UUID_A).orElseThrow().permanent());
        assertEquals(last, next.load(UUID_B).orElseThrow().generation());
    }

    /** The highest epoch sequence in the logs as they are now. */
    private long newestEpoch() throws IOException {
        long newest = 0;
        for (String name : CommitLog.FILES) {
            LogReader.Contents c = LogReader.read(dir.resolve("instances").resolve(name), u -> key.sealingKey(u.value(), "instance-state"));
            newest = Math.max(newest, c.epoch().map(LogEntry.Epoch::sequence).orElse(0L));
        }
        return newest;
    }
}
