package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyBoolean;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_A;
import static org.vtpmback.backend.state.InstanceStoreTest.record;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import java.util.logging.Level;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mockito.AdditionalAnswers;

/**
 * The commit log when the disk fails under it (docs/reliability.md, "When the log fails"): a write or sync of the open
 * log, and the background fold into the record files. The disk's errors are injected into the JDK's {@link FileChannel}
 * (a seam we do not own) or made real (a folder in the way of a record file); our code runs as the daemon runs it.
 */
@Timeout(120)
class CommitLogFaultTest {
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

    /**
     * The disk fails under an open log: a write returns ENOSPC or an fdatasync EIO (injected into the JDK's channel, not
     * our code). That checkpoint fails, naming the log file and the step; the log is not used again; the retry is a full save, durable in the record
     * file; and after a crash neither what was acknowledged before nor the retry is lost, while the failed entry (its
     * bytes may have reached the log) never wins over the full save of the same generation.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aFailedWriteOrSyncOfAnOpenLogFailsThatCheckpointAndLaterOnesAreFullSaves(boolean atSync) throws Exception {
        AtomicBoolean diskFails = new AtomicBoolean();
        AtomicInteger forces = new AtomicInteger();
        InstanceStore store = folder.daemon(StoreFolder.NEVER, real -> {
            FileChannel spy = mock(FileChannel.class, AdditionalAnswers.delegatesTo(real));
            try {
                doAnswer(call -> {
                    forces.incrementAndGet();
                    if (diskFails.get() && atSync) {
                        throw new IOException("Input/output error");
                    }
                    real.force(call.getArgument(0));
                    return null;
                }).when(spy).force(anyBoolean());
                doAnswer(call -> {
                    if (diskFails.get() && !atSync) {
                        throw new IOException("No space left on device");
                    }
                    return real.write((ByteBuffer) call.getArgument(0), (long) call.getArgument(1));
                }).when(spy).write(any(ByteBuffer.class), anyLong());
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            return spy;
        });
        store.save(record(UUID_A, 1, 6000));
        store.checkpoint(record(UUID_A, 2, 6000));
        store.checkpoint(record(UUID_A, 3, 6000));
        assertEquals(1, store.fileGeneration(UUID_A), "acknowledged in the log only");

        diskFails.set(true);
        IOException e = assertThrows(IOException.class, () -> store.checkpoint(record(UUID_A, 4, 6000)));
        assertTrue(e.getMessage().contains("the commit log " + store.dir().resolve("commit-")) && (atSync
                ? e.getMessage().contains("fdatasync") && e.getMessage().contains("Input/output error")
                : e.getMessage().contains("writing") && e.getMessage().contains("No space left on device")), e.getMessage());
        assertTrue(store.problem(UUID_A).orElse("").contains("commit log out of use"), String.valueOf(store.problem(UUID_A)));
        assertEquals(3, store.load(UUID_A).orElseThrow().generation(), "the failed checkpoint is not what is stored");
        int forcesAtFailure = forces.get();

        InstanceRecord retry = record(UUID_A, 4, 7000); // the state as the retry finds it: not the failed entry's bytes
        store.checkpoint(retry);
        assertEquals(forcesAtFailure, forces.get(), "the failed log was synced again");
        assertEquals(4, store.fileGeneration(UUID_A), "the retry is a full save into the record file");

        InstanceStore next = daemon(); // crash: the log holds generations 2, 3 and, after a failed sync, the failed 4's bytes
        assertArrayEquals(retry.permanent(), next.load(UUID_A).orElseThrow().permanent(), "the failed entry won over the retry");
        assertArrayEquals(retry.permanent(), otherProcess().load(UUID_A).orElseThrow().permanent());
        assertEquals(4, next.fileGeneration(UUID_A));
    }

    /**
     * The background fold fails (the record file cannot be replaced: a non-empty folder is in its way): one ERROR
     * naming the vTPM, the file, the cause and what to do, not one per try; status shows it; once the way is clear the
     * fold succeeds by itself, says so, and the status is clear again.
     */
    @Test
    void aFailingFoldIsLoudOnceShownInStatusAndRecovers() throws Exception {
        FoldAlarmLog log = new FoldAlarmLog();
        try {
            InstanceStore store = folder.daemon(Duration.ofMillis(20), UnaryOperator.identity());
            store.save(record(UUID_A, 1, 6000));
            Path file = store.fileOf(UUID_A);
            Files.delete(file);
            Files.createDirectories(file.resolve("blocker"));
            store.checkpoint(record(UUID_A, 2, 6000));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (store.problem(UUID_A).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(store.problem(UUID_A).orElse("").contains("only in the commit log: folding fails since"),
                    String.valueOf(store.problem(UUID_A)));
            Thread.sleep(500); // about 25 more tries at 20 ms
            List<String> errors = log.records().stream().filter(r -> r.getLevel() == Level.SEVERE).map(FoldAlarmLog::format).toList();
            assertEquals(1, errors.size(), "one ERROR for the streak: " + errors);
            String error = errors.get(0);
            for (String part : List.of(UUID_A.value(), file.toString(), "Is a directory", "commit-0.log", "do not delete", "retries")) {
                assertTrue(error.contains(part), "'" + part + "' missing in: " + error);
            }
            assertEquals(0, log.count(Level.WARNING), "rate-limited to one per 10 min");
            assertEquals(2, store.load(UUID_A).orElseThrow().generation(), "the checkpoint stays durable in the log");

            org.apache.commons.io.file.PathUtils.deleteDirectory(file);
            while (store.problem(UUID_A).isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(store.problem(UUID_A).isEmpty(), String.valueOf(store.problem(UUID_A)));
            assertEquals(2, store.fileGeneration(UUID_A));
            assertTrue(log.records().stream().anyMatch(r -> r.getLevel() == Level.INFO && FoldAlarmLog.format(r).contains("works again")),
                    log.records().stream().map(FoldAlarmLog::format).toList().toString());
            store.close();
        } finally {
            log.close();
        }
    }
}
