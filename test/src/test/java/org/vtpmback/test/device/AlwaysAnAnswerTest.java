package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.commons.io.file.PathUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
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

    @Test
    void aFailedSaveIsAnsweredRetriedAndBlocksCommandsUntilDurable(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest guest = host.boot(uuid);
        InstanceStore store = host.instances().store();
        long before = store.load(Uuid.parse(uuid)).orElseThrow().generation();

        // A real I/O failure, no seam: the sealed file's atomic rename cannot replace a non-empty directory.
        Path file = store.fileOf(Uuid.parse(uuid));
        Files.delete(file);
        Files.createDirectories(file.resolve("blocker"));

        byte[] defined = guest.transmit(TpmCommands.nvDefineSpace(0x01500020, 8));
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(defined), "state change not durable: "
                + HexFormat.of().formatHex(defined));
        byte[] refused = guest.transmit(TpmCommands.getRandom(8));
        assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(refused), "refused until durable: "
                + HexFormat.of().formatHex(refused));

        PathUtils.deleteDirectory(file);
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

    private static void assertAnswered(byte[] response) {
        assertEquals(0, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
    }
}
