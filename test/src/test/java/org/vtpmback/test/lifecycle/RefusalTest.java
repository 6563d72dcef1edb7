package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.errorNode;
import static org.vtpmback.test.lifecycle.GuestTpm.file;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xenstore.XenbusState;

/**
 * The refusals: a resume without a snapshot, and a stored state that was tampered with or cut
 * short. Each refuses the device with an error naming the vTPM and the domain, and leaves the stored
 * state exactly as it was (never a silent clear start, never a re-manufacture).
 */
@UseSimulatedHost
@Timeout(180)
class RefusalTest {
    @RegisterExtension
    final LogCapture logs = new LogCapture();
    SimulatedVtpmHost host;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
    }

    /** A vTPM that was created, used and shut down: stored, no snapshot. */
    private String shutDownInstance() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_pcrextend", "16:sha256=" + "11".repeat(32));
        g.shutdown(ShutdownReason.POWEROFF);
        assertEquals(EndKind.SHUTDOWN, awaitEnded(host, uuid).lastEnd());
        return uuid;
    }

    /** Starts a domain with the vTPM and waits for the backend to give up on it (Closing + error node). */
    private String refusedStart(String uuid, boolean resume) throws Exception {
        Guest g = host.create(uuid, resume);
        g.frontend().probe();
        String error = awaitError(g);
        // xenbus_dev_fatal: the backend went Closing (and Closed once the frontend followed)
        assertTrue(List.of(XenbusState.CLOSING, XenbusState.CLOSED).contains(
                host.toolstack().backendState(g.domid(), 0).orElseThrow()), host.toolstack().backendState(g.domid(), 0).toString());
        assertTrue(error.contains(uuid), error);
        assertTrue(error.contains("domain " + g.domid()), error);
        assertFalse(g.frontend().isConnected());
        return error;
    }

    private String awaitError(Guest g) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            java.util.Optional<String> error = host.xenstore().read(errorNode(g.domid()));
            boolean closing = host.toolstack().backendState(g.domid(), 0)
                    .map(st -> st == XenbusState.CLOSING || st == XenbusState.CLOSED).orElse(false);
            if (error.isPresent() && closing) { // the error is written just before the state
                return error.get();
            }
            Thread.sleep(20);
        }
        throw new AssertionError("domain " + g.domid() + ": no error node; backend " + host.toolstack().backendState(g.domid(), 0));
    }

    @Test
    void resumeWithoutASnapshotIsRefusedAndChangesNothing() throws Exception {
        String uuid = shutDownInstance();
        byte[] before = Files.readAllBytes(file(host, uuid));
        long generation = GuestTpm.stored(host, uuid).generation();
        int mark = logs.size();

        String error = refusedStart(uuid, true);
        assertTrue(error.contains("resume requested but no suspend snapshot is stored"), error);
        // the operator finds the record and what it holds (after a power cut: the RUNNING record that consumed the snapshot)
        assertTrue(error.contains("stored record " + file(host, uuid) + ", generation " + generation), error);
        assertEquals(1, logs.since(mark, "start mode REFUSE").size(), logs.lines().toString());
        assertArrayEquals(before, Files.readAllBytes(file(host, uuid)), "stored state untouched");
        assertEquals(generation, GuestTpm.stored(host, uuid).generation());
        System.out.println("resume without snapshot -> " + error);
    }

    @Test
    void resumeOfAnUnknownVtpmIsRefusedAndNothingIsManufactured() throws Exception {
        String uuid = UUID.randomUUID().toString();
        String error = refusedStart(uuid, true);
        assertTrue(error.contains("no state for the vTPM"), error);
        assertTrue(error.contains("nothing stored at " + file(host, uuid)), error);
        assertFalse(Files.exists(file(host, uuid)), "nothing manufactured");
        // it was new at InitWait, so its manufacture began early; the refusal dropped it unseen
        assertEquals(1, logs.since(0, "vTPM " + uuid + ": dropping the TPM manufactured early").size(), logs.lines().toString());
    }

    @Test
    void aFlippedBitRefusesTheInstanceAndIsNeverReManufactured() throws Exception {
        String uuid = shutDownInstance();
        Path f = file(host, uuid);
        byte[] bytes = Files.readAllBytes(f);
        bytes[bytes.length / 2] ^= 0x04;
        Files.write(f, bytes);
        refusedCorrupt(uuid, f, bytes, "authentication failed");
    }

    @Test
    void aTruncatedFileRefusesTheInstanceAndIsNeverReManufactured() throws Exception {
        String uuid = shutDownInstance();
        Path f = file(host, uuid);
        byte[] bytes = Arrays.copyOf(Files.readAllBytes(f), Files.readAllBytes(f).length - 100);
        Files.write(f, bytes);
        refusedCorrupt(uuid, f, bytes, "authentication failed");
        byte[] stub = Arrays.copyOf(bytes, 10);
        Files.write(f, stub);
        refusedCorrupt(uuid, f, stub, "truncated");
    }

    @Test
    void aSecondResumeFromASuspendFilePutBackIsRefused() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_pcrextend", "16:sha256=" + "22".repeat(32));
        g.suspend();
        assertEquals(EndKind.SUSPENDED, awaitEnded(host, uuid).lastEnd());
        Path f = file(host, uuid);
        byte[] suspended = Files.readAllBytes(f); // an attacker with dom0's disk keeps a copy
        long suspendedAt = GuestTpm.stored(host, uuid).generation();

        Guest resumed = host.boot(uuid, true); // the resume consumes the snapshot
        resumed.tpm2("tpm2_pcrread", "sha256:16");
        resumed.shutdown(ShutdownReason.POWEROFF);
        long latest = awaitEnded(host, uuid).generation();

        Files.write(f, suspended); // ... and puts it back, to resume the old TPM state once more
        int mark = logs.size();
        String error = refusedStart(uuid, true);
        assertTrue(error.contains("generation " + suspendedAt) && error.contains("generation " + latest)
                && error.contains("rolled back or replayed") && error.contains(f.toString()), error);
        assertEquals(List.of(), logs.since(mark, "start mode"), "refused before any start mode was decided");
        assertArrayEquals(suspended, Files.readAllBytes(f), "file left as it was for the operator");
        System.out.println("replayed suspend snapshot -> " + error);
    }

    private void refusedCorrupt(String uuid, Path f, byte[] bytes, String problem) throws Exception {
        int mark = logs.size();
        String error = refusedStart(uuid, false);
        assertTrue(error.contains(f.toString()), "names the file: " + error);
        assertTrue(error.contains(problem), error);
        assertArrayEquals(bytes, Files.readAllBytes(f), "file left as it was for the operator");
        List<String> manufactured = logs.since(mark, "MANUFACTURE");
        assertEquals(List.of(), manufactured);
        assertEquals(List.of(uuid + InstanceStore.SUFFIX), storeFiles(f.getParent()), "no second file, no temp file");
        System.out.println(problem + " -> " + error);
    }

    private static List<String> storeFiles(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith("generations.")) // the host's generation anchor and its lock
                    .sorted().toList();
        }
    }
}
