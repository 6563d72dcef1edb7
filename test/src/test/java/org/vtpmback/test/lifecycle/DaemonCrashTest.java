package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.defineNvText;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.readNvText;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xenstore.XenbusState;

/**
 * The daemon killed with SIGKILL (the OOM killer, a JVM crash) under a running guest, then started
 * again, as systemd's Restart=on-failure does. Its swtpm processes outlive it (the systemd unit
 * leaves them running): the new daemon takes their running state, so the guest keeps its PCRs and
 * never sees its TPM reset. Without the survivor (swtpm killed too) the guest's TPM restarts clear,
 * keys kept, which is the floor the store guarantees: no acknowledged NV write is ever lost. A second daemon on the same state refuses to
 * start, so it never mistakes a live daemon's swtpm processes for survivors.
 */
@UseXenstored
@Timeout(600) // only a backstop: every wait inside follows the daemon's progress (ProgressWait), with its own message
class DaemonCrashTest {
    private static final String NV_INDEX = "0x1500020";
    private static final String COUNTER_INDEX = "0x1500021";

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private Path xenstored;
    private SimulatedVtpmHost host;
    private DaemonProcess daemon;

    @BeforeEach
    void start(XenstoredDaemon xsd) throws Exception {
        xenstored = xsd.socket();
        daemon = startDaemon();
        host = new SimulatedVtpmHost(xenstored, Files.createDirectories(work.resolve("guests")), work.resolve("sim"));
    }

    @AfterEach
    void stop() throws Exception {
        if (host != null) {
            host.close();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    private DaemonProcess startDaemon() throws Exception {
        return DaemonProcess.start(xenstored, work.resolve("sim"), work.resolve("daemon"), "default-tpm-family=2.0");
    }

    private long swtpmPid(String uuid) throws Exception {
        return Long.parseLong(Files.readString(work.resolve("daemon/run/instances/" + uuid + "/swtpm.pid")).strip());
    }

    private String daemonLog() {
        try {
            return daemon.log();
        } catch (java.io.IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** A guest with NV data and PCR 16 extended; returns the PCR value. */
    private String guestInUse(Guest g) throws Exception {
        defineNvText(g, NV_INDEX, 4, "kept");
        return extend(g, 16, ZERO32, sha256Hex("measured before the crash"));
    }

    @Test
    void aRestartedDaemonResumesTheRunningTpmOfItsSurvivingSwtpm() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = guestInUse(g);
        long swtpm = swtpmPid(uuid);

        daemon.kill();
        assertTrue(alive(swtpm), "swtpm outlives a killed daemon");
        daemon = startDaemon();

        assertEquals(pcr16, pcr(g, 16), "PCR 16 as before the crash: the guest's TPM was not reset");
        assertEquals("kept", readNvText(g, NV_INDEX, 4));
        assertEquals(swtpm, swtpmPid(uuid), "the survivor was taken over as it ran, not replaced");
        assertEquals(XenbusState.CONNECTED, g.frontend().state(), "the guest never saw its TPM go away");
        assertEquals(Optional.of(XenbusState.CONNECTED), host.toolstack().backendState(g.domid(), 0));
        String log = daemon.log();
        assertTrue(log.contains("vTPM " + uuid + ": kept the running state of the swtpm that outlived the last daemon"), log);
        assertTrue(log.contains("restoring the DAEMON_CRASHED snapshot"), log);
        assertTrue(log.contains("vTPM " + uuid + ": took over its running swtpm pid " + swtpm), log);
        // where the restart's time went, for the operator (the guests waited that long)
        assertTrue(log.matches("(?s).*ready [0-9.]+ s after exec: launcher, JVM and command line [0-9.]+ s,"
                + " folders, lock, service manager and swtpm --version [0-9.]+ s, master key [0-9.]+ s,"
                + " hypervisor and xenstored [0-9.]+ s, state store [0-9.]+ s, swtpm processes left by the last daemon"
                + " [0-9.]+ s, watch and startup scan [0-9.]+ s.*"), log);
    }

    @Test
    void everyAcknowledgedNvWriteSurvivesAKillOfDaemonAndSwtpm() throws Exception {
        // the floor without survivors: the store alone. The daemon seals NV changes before the guest
        // sees the answer, so after the kill NV holds the last acknowledged value, or the one in flight.
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_nvdefine", COUNTER_INDEX, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        Random random = new Random(7);
        long acked = 0;
        for (int round = 0; round < 3; round++) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong lastAcked = new AtomicLong(acked);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> writeCounterUntil(g, stop, lastAcked));
            Thread.sleep(300 + random.nextInt(1200));
            // On a loaded machine the first write can take longer than that: kill only once one was acknowledged.
            long before = acked;
            ProgressWait.await("round " + round + ": a first NV write acknowledged",
                    () -> lastAcked.get() != before || writer.isDone(),
                    () -> "last acknowledged write " + lastAcked.get() + ", writer " + (writer.isDone() ? "ended" : "running"));
            stop.set(true);
            long swtpm = swtpmPid(uuid);
            daemon.kill();
            ProcessHandle.of(swtpm).ifPresent(ProcessHandle::destroyForcibly);
            daemon = startDaemon();
            writer.get(2, TimeUnit.MINUTES); // its last write was answered, or failed, by now
            long stored = counter(g);
            assertTrue(stored == lastAcked.get() || stored == lastAcked.get() + 1,
                    "round " + round + ": NV holds " + stored + ", the last acknowledged write was " + lastAcked.get());
            assertTrue(lastAcked.get() > acked, "round " + round + ": the guest wrote nothing before the kill");
            acked = stored;
        }
    }

    /** Writes 1, 2, 3, ... after {@code lastAcked} to the counter index until told to stop or a write fails. */
    private void writeCounterUntil(Guest g, AtomicBoolean stop, AtomicLong lastAcked) {
        try {
            Path value = Files.createTempFile(work, "counter", ".bin");
            while (!stop.get()) {
                long next = lastAcked.get() + 1;
                Files.write(value, ByteBuffer.allocate(8).putLong(next).array());
                g.tpm2("tpm2_nvwrite", COUNTER_INDEX, "-C", "o", "-i", value.toString());
                lastAcked.set(next);
            }
        } catch (Exception e) {
            // the write in flight at the kill: it may or may not have landed
        }
    }

    private long counter(Guest g) throws Exception {
        Path out = work.resolve("counter-read.bin");
        g.tpm2("tpm2_nvread", COUNTER_INDEX, "-C", "o", "-s", "8", "-o", out.toString());
        return ByteBuffer.wrap(Files.readAllBytes(out)).getLong();
    }

    @Test
    void aSwtpmSpawnedAtInitWaitIsNeverTakenOverAsTheGuestsRunningTpm() throws Exception {
        // an existing vTPM's swtpm is spawned empty when its device reaches InitWait; a crash before the connect
        // leaves it running in the vTPM's folder, with no state file: the next daemon stops it, and the connect
        // boots the stored state
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        guestInUse(g);
        g.shutdown(ShutdownReason.REBOOT);
        // the old device saves as its directory goes: only then is the vTPM's lease free for an early spawn
        ProgressWait.await("domain " + g.domid() + ": saved and gone", () -> daemonLog().contains("domain " + g.domid()
                + " vtpm 0: device gone"), this::daemonLog);
        Guest rebooted = host.create(uuid, false); // paused: its frontend has not probed
        Path pidFile = work.resolve("daemon/run/instances/" + uuid + "/swtpm.pid");
        ProgressWait.await("domain " + rebooted.domid() + ": swtpm spawned at InitWait", () -> Files.exists(pidFile),
                this::daemonLog);
        long early = swtpmPid(uuid);

        daemon.kill();
        assertTrue(alive(early), "swtpm outlives a killed daemon");
        daemon = startDaemon();

        ProgressWait.await("the early swtpm stopped by the next daemon", () -> !alive(early), this::daemonLog);
        String log = daemon.log();
        assertTrue(log.contains("vTPM " + uuid + ": the swtpm left by the last daemon never had the vTPM's state"), log);
        rebooted.unpause();
        assertEquals(ZERO32, pcr(rebooted, 16), "booted from the stored state: PCR 16 reset, not marked as a restart");
        assertEquals("kept", readNvText(rebooted, NV_INDEX, 4));
        assertTrue(daemon.log().contains("vTPM " + uuid + ": start mode CLEAR"), daemon.log());
    }

    @Test
    void aSecondDaemonOnTheSameStateRefusesToStartAndTakesNothing() throws Exception {
        // it would otherwise take the running daemon's swtpm processes for survivors of a crash
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("measured before the second daemon"));
        long swtpm = swtpmPid(uuid);

        IllegalStateException refused = assertThrows(IllegalStateException.class, this::startDaemon);

        assertTrue(refused.getMessage().contains("another vtpmback daemon (pid " + daemon.pid() + ") is running on state-dir"),
                refused.getMessage());
        assertTrue(alive(swtpm), "the running daemon's swtpm was left alone");
        assertEquals(pcr16, pcr(g, 16));
    }

    @Test
    void withoutItsSwtpmTheGuestsTpmRestartsClearWithItsKeysAndMarkedPcrs() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        guestInUse(g);
        long swtpm = swtpmPid(uuid);

        daemon.kill();
        ProcessHandle.of(swtpm).ifPresent(ProcessHandle::destroyForcibly); // e.g. KillMode=control-group
        daemon = startDaemon();

        String mark = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(org.vtpmback.backend.engine.RestartMark.EVENT.getBytes()));
        String marked = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(java.util.HexFormat.of().parseHex(ZERO32 + mark)));
        assertEquals(marked, pcr(g, 16), "nothing held the PCRs: the TPM restarted clear, every PCR marked (never zero again)");
        assertEquals("kept", readNvText(g, NV_INDEX, 4), "NV is permanent state, checkpointed before the guest saw the answer");
        assertTrue(daemon.log().contains("no snapshot was kept (the daemon did not stop cleanly)"), daemon.log());
    }
}
