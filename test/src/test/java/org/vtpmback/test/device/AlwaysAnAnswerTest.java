package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.commons.io.file.PathUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mockito.AdditionalAnswers;
import org.vtpmback.backend.engine.Reply;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Every command gets an answer, also when the engine or the save behind it fails: TPM_RC_FAILURE on
 * the page, never silence; a change whose save failed is retried, and until it is durable the vTPM
 * refuses commands with the same failure.
 */
@UseSimulatedHost
@Timeout(180)
class AlwaysAnAnswerTest {
    private static final int TPM_RC_FAILURE = 0x101;
    private static final int TPM_CC_NV_DEFINE_SPACE = 0x12A;

    /**
     * The gate is observed at the engine: a command that reached swtpm while the save is pending would
     * also be answered with a failure (its own save retries the pending change and fails again), so
     * the answer alone cannot tell "refused" from "run, then failed to save". A read-only command
     * that would succeed on swtpm must never reach it.
     */
    @Test
    void aFailedSaveIsAnsweredRetriedAndBlocksCommandsUntilDurable(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        List<String> reached = new CopyOnWriteArrayList<>();
        AtomicBoolean watching = new AtomicBoolean();
        host.stopDaemon();
        host.engineFaults(engine -> {
            TpmEngine seam = mock(TpmEngine.class, AdditionalAnswers.delegatesTo(engine));
            doAnswer(call -> {
                if (watching.get()) {
                    reached.add(String.format("0x%x", ordinal((byte[]) call.getArgument(1))));
                }
                return engine.execute(call.getArgument(0), call.getArgument(1));
            }).when(seam).execute(anyInt(), any());
            doAnswer(call -> { // the data path's other way to swtpm: started, answered on the reply loop
                if (watching.get()) {
                    reached.add(String.format("0x%x", ordinal((ByteBuffer) call.getArgument(2))));
                }
                return engine.start(call.getArgument(0), call.getArgument(1), call.getArgument(2), call.getArgument(3));
            }).when(seam).start(any(), anyInt(), any(), any());
            return seam;
        }).startDaemon();
        Guest guest = host.boot(uuid);
        InstanceStore store = host.store();
        long before = store.load(Uuid.parse(uuid)).orElseThrow().generation();

        // A real I/O failure, no seam: the sealed file's atomic rename cannot replace a non-empty directory. A guest
        // command's checkpoint goes to the commit log, which this daemon makes at its first checkpoint: the same
        // blocker where its files go makes that fail (and the full save it would fall back to).
        Path file = store.fileOf(Uuid.parse(uuid));
        Files.delete(file);
        Files.createDirectories(file.resolve("blocker"));
        List<Path> logs = List.of(store.dir().resolve("commit-0.log"), store.dir().resolve("commit-1.log"));
        for (Path log : logs) {
            Files.deleteIfExists(log); // folded when this daemon's store opened; not open yet (no checkpoint so far)
            Files.createDirectories(log.resolve("blocker"));
        }

        byte[] defined = guest.transmit(TpmCommands.nvDefineSpace(0x01500020, 8));
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(defined), "state change not durable: "
                + HexFormat.of().formatHex(defined));
        watching.set(true);
        for (int i = 0; i < 2; i++) { // the retry before each command fails too: each is refused
            byte[] refused = guest.transmit(TpmCommands.getRandom(8));
            assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(refused), "refused until durable: "
                    + HexFormat.of().formatHex(refused));
        }
        assertEquals(List.of(), reached, "commands that reached swtpm (ordinals) while a save was pending");
        watching.set(false);

        PathUtils.deleteDirectory(file);
        for (Path log : logs) {
            PathUtils.deleteDirectory(log);
        }
        assertAnswered(guest.transmit(TpmCommands.getRandom(8)));
        long after = store.load(Uuid.parse(uuid)).orElseThrow().generation();
        assertTrue(after > before, "the pending change was saved by the retry: generation " + before + " -> " + after);
        // The index the failed-answered command defined is in the saved state, not forgotten.
        assertEquals(0x14c, TpmPackets.responseCode(guest.transmit(TpmCommands.nvDefineSpace(0x01500020, 8))),
                "TPM_RC_NV_DEFINED");
    }

    @Test
    void swtpmKilledMidCommandGivesAFailureAndTheVtpmComesBack(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest guest = host.boot(uuid);
        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        Signals.send("STOP", swtpm); // the command below waits in swtpm's socket, as a slow one would
        CompletableFuture<byte[]> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return guest.transmit(TpmCommands.getRandom(8));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Signals.send("KILL", swtpm);
        byte[] response = answer.get(60, TimeUnit.SECONDS);
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
        assertAnswered(guest.transmit(TpmCommands.getRandom(8)));
    }

    /**
     * swtpm answers a state change for real, then dies before the daemon saves it: the restart loads
     * the last saved state, so the change is gone and the guest must not be told it succeeded (before
     * the fix the real rc 0 went out and the NV index vanished).
     */
    @Test
    void swtpmDyingRightAfterAnsweringIsNotAcknowledged(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        AtomicBoolean strike = new AtomicBoolean();
        host.stopDaemon();
        host.engineFaults(engine -> {
            TpmEngine seam = mock(TpmEngine.class, AdditionalAnswers.delegatesTo(engine));
            doAnswer(call -> {
                byte[] response = engine.execute(call.getArgument(0), call.getArgument(1));
                if (ordinal((byte[]) call.getArgument(1)) == TPM_CC_NV_DEFINE_SPACE && strike.compareAndSet(true, false)) {
                    kill(host, uuid); // answered, not yet saved
                }
                return response;
            }).when(seam).execute(anyInt(), any());
            doAnswer(call -> { // the same on the started path: swtpm dies between its answer and the data path's look at it
                ByteBuffer command = call.getArgument(2);
                Reply reply = call.getArgument(3);
                boolean define = ordinal(command) == TPM_CC_NV_DEFINE_SPACE;
                return engine.start(call.getArgument(0), call.getArgument(1), command, answer -> {
                    if (define && answer != null && strike.compareAndSet(true, false)) {
                        kill(host, uuid);
                    }
                    reply.received(answer);
                });
            }).when(seam).start(any(), anyInt(), any(), any());
            return seam;
        }).startDaemon();
        Guest guest = host.boot(uuid);

        strike.set(true);
        byte[] defined = guest.transmit(TpmCommands.nvDefineSpace(0x01500021, 8));
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(defined), "unsaved change acknowledged: "
                + HexFormat.of().formatHex(defined));
        // The vTPM runs on the last saved state, where the index was never defined: defining it works.
        assertAnswered(guest.transmit(TpmCommands.nvDefineSpace(0x01500021, 8)));
    }

    /**
     * swtpm dies between the data path's liveness check and the save: the instance must not report the
     * save done (before the fix afterCommand skipped it silently and the real answer went out).
     */
    @Test
    void swtpmDyingBeforeTheSaveIsNotReportedSaved(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        AtomicBoolean strike = new AtomicBoolean();
        host.stopDaemon();
        host.engineFaults(engine -> {
            TpmEngine seam = mock(TpmEngine.class, AdditionalAnswers.delegatesTo(engine));
            AtomicBoolean defined = new AtomicBoolean();
            doAnswer(call -> {
                byte[] response = engine.execute(call.getArgument(0), call.getArgument(1));
                defined.set(ordinal((byte[]) call.getArgument(1)) == TPM_CC_NV_DEFINE_SPACE);
                return response;
            }).when(seam).execute(anyInt(), any());
            doAnswer(call -> {
                defined.set(ordinal((ByteBuffer) call.getArgument(2)) == TPM_CC_NV_DEFINE_SPACE);
                return engine.start(call.getArgument(0), call.getArgument(1), call.getArgument(2), call.getArgument(3));
            }).when(seam).start(any(), anyInt(), any(), any());
            doAnswer(call -> {
                boolean alive = engine.isAlive();
                if (alive && defined.get() && strike.compareAndSet(true, false)) {
                    kill(host, uuid); // the caller saw it alive; the save comes next
                }
                return alive;
            }).when(seam).isAlive();
            return seam;
        }).startDaemon();
        Guest guest = host.boot(uuid);

        strike.set(true);
        byte[] defined = guest.transmit(TpmCommands.nvDefineSpace(0x01500022, 8));
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(defined), "unsaved change acknowledged: "
                + HexFormat.of().formatHex(defined));
        assertAnswered(guest.transmit(TpmCommands.nvDefineSpace(0x01500022, 8)));
    }

    private static int ordinal(byte[] command) {
        return ByteBuffer.wrap(command, 6, 4).getInt();
    }

    private static int ordinal(ByteBuffer command) {
        return command.getInt(command.position() + 6);
    }

    private static void kill(SimulatedVtpmHost host, String uuid) {
        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        swtpm.destroyForcibly();
        swtpm.onExit().join();
    }

    private static void assertAnswered(byte[] response) {
        assertEquals(0, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
    }
}
