package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.anyBoolean;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.AdditionalAnswers;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * The commit log fails while it is open and in use (docs/reliability.md, "Checkpoints", "When the log fails"): the
 * disk's {@code fdatasync} of the log returns EIO under a guest's NV write. Real daemon, real swtpm, real files; the
 * fault is injected into the JDK's {@link FileChannel} of the log (a seam we do not own), nowhere in our code.
 * The guest's command must be answered with a TPM failure (never silence), the failure must be logged as an ERROR
 * naming the domain, the vTPM and the log file, every state acknowledged before must still be on disk, and a later
 * command must not be acknowledged unless its state is durable elsewhere (here: a full save into the record file).
 */
@UseSimulatedHost
@Timeout(180)
class CommitLogFailureTest {
    private static final int TPM_RC_FAILURE = 0x101;
    private static final int NV_INDEX = 0x01500030;
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path scratch;

    @Test
    void aFailedSyncOfTheOpenLogIsAnsweredLoudlyLosesNothingAndLaterCommitsAreDurable(SimulatedVtpmHost host) throws Exception {
        AtomicBoolean diskFails = new AtomicBoolean();
        AtomicInteger syncs = new AtomicInteger();
        AtomicInteger failedSyncs = new AtomicInteger();
        host.stopDaemon();
        host.logFaults(real -> failing(real, diskFails, syncs, failedSyncs)).startDaemon();
        String uuid = UUID.randomUUID().toString();
        Uuid id = Uuid.parse(uuid);
        Guest guest = host.boot(uuid);
        InstanceStore store = host.store();
        MasterKey key = MasterKey.load(host.work().resolve("state/master.key"));

        assertAnswered(guest.transmit(TpmCommands.nvDefineSpace(NV_INDEX, 8)));
        assertAnswered(guest.transmit(TpmCommands.nvWrite(NV_INDEX, bytes(1))));
        assertTrue(syncs.get() >= 2, "the checkpoints went through the open commit log: " + syncs.get() + " fdatasyncs");
        long acknowledged = store.load(id).orElseThrow().generation();

        try (DaemonLog log = DaemonLog.capture()) {
            diskFails.set(true);
            byte[] failed = guest.transmit(TpmCommands.nvWrite(NV_INDEX, bytes(2)));
            assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(failed), "not durable, so not acknowledged: "
                    + HexFormat.of().formatHex(failed));
            assertEquals(1, failedSyncs.get(), "the failed fdatasync");
            String logFile = store.dir().resolve("commit-").toString();
            String line = log.awaitContaining(WAIT, "domain " + guest.domid() + " vtpm 0", uuid, logFile, "fdatasync",
                    "Input/output error", "answering with a TPM failure");
            assertTrue(line.startsWith("SEVERE"), line);
            String logLine = log.awaitContaining(WAIT, "the commit log " + logFile, uuid, "Check the disk");
            assertTrue(logLine.startsWith("SEVERE"), logLine);
            assertTrue(store.problem(id).orElse("").contains("commit log out of use"), "status: " + store.problem(id));

            // what was acknowledged is on disk, as a second process reads it (logs and files)
            assertTrue(InstanceStore.shared(store.dir(), key).load(id).orElseThrow().generation() >= acknowledged);

            // the log still fails: a later command is acknowledged only through a durable full save of the record file
            assertAnswered(guest.transmit(TpmCommands.nvWrite(NV_INDEX, bytes(3))));
            assertEquals(1, failedSyncs.get(), "the failed log was used again");
            long now = store.load(id).orElseThrow().generation();
            assertEquals(now, fileOnly(store, id, key).generation(), "acknowledged while the log fails, but not in the record file");
            log.awaitContaining(WAIT, "domain " + guest.domid() + " vtpm 0: the vTPM state is saved again");
        }

        // The next daemon starts from what is on disk only: swtpm is gone, so nothing is taken over or saved at the stop.
        diskFails.set(false);
        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        swtpm.destroyForcibly();
        swtpm.onExit().get(30, TimeUnit.SECONDS);
        host.stopDaemon();
        host.startDaemon();
        byte[] read = guest.transmit(TpmCommands.nvRead(NV_INDEX, 8));
        assertAnswered(read);
        assertArrayEquals(bytes(3), TpmCommands.nvReadData(read), "the last acknowledged NV write, restored from the store");
    }

    /** A spy of the log's channel whose {@code fdatasync} fails with EIO while {@code diskFails}; all else is the real channel. */
    private static FileChannel failing(FileChannel real, AtomicBoolean diskFails, AtomicInteger syncs, AtomicInteger failed) {
        FileChannel spy = mock(FileChannel.class, AdditionalAnswers.delegatesTo(real));
        try {
            doAnswer(call -> {
                if (diskFails.get()) {
                    failed.incrementAndGet();
                    throw new IOException("Input/output error");
                }
                real.force(call.getArgument(0));
                syncs.incrementAndGet();
                return null;
            }).when(spy).force(anyBoolean());
        } catch (IOException e) {
            throw new AssertionError(e); // stubbing does not call force
        }
        return spy;
    }

    /** The record as its file alone holds it (no commit log, no anchor): what a full save made durable. */
    private InstanceRecord fileOnly(InstanceStore store, Uuid id, MasterKey key) throws Exception {
        Path dir = Files.createDirectories(scratch.resolve("file-only-" + System.nanoTime()));
        Files.copy(store.fileOf(id), dir.resolve(store.fileOf(id).getFileName()));
        return InstanceStore.shared(dir, key).load(id).orElseThrow();
    }

    private static byte[] bytes(int value) {
        byte[] b = new byte[8];
        java.util.Arrays.fill(b, (byte) value);
        return b;
    }

    private static void assertAnswered(byte[] response) {
        assertEquals(0, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
    }
}
