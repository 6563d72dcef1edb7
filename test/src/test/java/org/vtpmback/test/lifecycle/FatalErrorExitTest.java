package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;

/**
 * An {@link OutOfMemoryError} on the daemon's single event-channel reader (injected through the simulated
 * host's fault file) must end the process with exit status 70, not leave a daemon that is up but serves
 * no guest. Started again, as systemd's Restart=on-failure does, the daemon takes over the swtpm that
 * outlived it: the guest keeps its PCRs and never sees its TPM go away.
 */
@UseXenstored
@Timeout(240)
class FatalErrorExitTest {
    private static final int FATAL_EXIT_STATUS = 70;
    private static final Duration EXIT_WAIT = Duration.ofSeconds(60); // a loaded machine: the halt itself takes milliseconds

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

    @Test
    void anOutOfMemoryErrorOnTheEventChannelReaderExitsSeventyAndTheRestartKeepsThePcrs() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("measured before the fatal error"));
        long swtpm = Long.parseLong(Files.readString(work.resolve("daemon/run/instances/" + uuid + "/swtpm.pid")).strip());

        Path fault = new SimulationDirectory(work.resolve("sim")).readerFault();
        Files.createDirectories(fault.getParent());
        Files.createFile(fault);
        // the guest's next notification reaches the reader, which fails; this command's answer may be lost
        CompletableFuture<byte[]> inFlight = CompletableFuture.supplyAsync(() -> {
            try {
                return g.transmit(TpmPackets.tpm2GetRandom(8));
            } catch (Exception e) {
                return null;
            }
        });

        OptionalInt status = daemon.awaitExit(EXIT_WAIT);
        assertTrue(status.isPresent(), "the daemon is still up " + EXIT_WAIT + " after its event-channel reader died; log:\n"
                + daemon.log());
        assertEquals(FATAL_EXIT_STATUS, status.getAsInt(), daemon.log());
        assertFalse(Files.exists(fault), "the fault was consumed by the reader");
        String log = daemon.log();
        assertTrue(log.lines().anyMatch(l -> l.contains(" ERROR ") && l.contains("fatal: java.lang.OutOfMemoryError on thread"
                + " vtpm-evtchn") && l.contains("exiting with status 70")), log);
        assertTrue(ProcessHandle.of(swtpm).map(ProcessHandle::isAlive).orElse(false), "swtpm outlives the halted daemon");

        daemon = startDaemon();
        inFlight.get(2, TimeUnit.MINUTES); // answered by the new daemon, or given up: either way done

        assertEquals(pcr16, pcr(g, 16), "PCR 16 as before the fatal error: the guest's TPM was not reset");
        assertEquals(XenbusState.CONNECTED, g.frontend().state(), "the guest never saw its TPM go away");
        assertTrue(daemon.log().contains("vTPM " + uuid + ": kept the running state of the swtpm that outlived the last daemon"),
                daemon.log());
    }
}
