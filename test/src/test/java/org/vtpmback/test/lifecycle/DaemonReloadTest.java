package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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
import org.vtpmback.xenstore.XenbusState;

/**
 * {@code systemctl reload} (SIGHUP) with a guest sending commands throughout: the running daemon starts a
 * successor, serves until it is warm, then hands over; the guest's TPM is the same swtpm process with the
 * same PCRs, and every command is answered. The longest command is printed: it is the hand-over's gap,
 * which must not contain a JVM start. A successor that cannot start (a broken configuration file) leaves
 * the running daemon serving.
 */
@UseXenstored
@Timeout(600) // only a backstop: every wait inside follows the daemon's progress (ProgressWait)
class DaemonReloadTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private Path xenstored;
    private Path config;
    private SimulatedVtpmHost host;
    private DaemonProcess daemon;

    @BeforeEach
    void start(XenstoredDaemon xsd) throws Exception {
        xenstored = xsd.socket();
        config = work.resolve("vtpmback.conf");
        Files.writeString(config, "default-tpm-family = 2.0\n");
        daemon = DaemonProcess.start(xenstored, work.resolve("sim"), work.resolve("daemon"), Optional.of(config), java.util.Map.of(),
                List.of());
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

    private long swtpmPid(String uuid) throws Exception {
        return Long.parseLong(Files.readString(work.resolve("daemon/run/instances/" + uuid + "/swtpm.pid")).strip());
    }

    @Test
    void aReloadHandsTheGuestsOverWithoutLosingACommand() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("measured before the reload"));
        long swtpm = swtpmPid(uuid);
        long oldPid = daemon.pid();

        AtomicBoolean stopLoop = new AtomicBoolean();
        AtomicInteger answered = new AtomicInteger();
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        AtomicLong longestMillis = new AtomicLong();
        CompletableFuture<Void> loop = CompletableFuture.runAsync(() -> {
            while (!stopLoop.get()) {
                long t0 = System.nanoTime();
                try {
                    g.tpm2("tpm2_getrandom", "--hex", "8");
                    answered.incrementAndGet();
                } catch (Exception e) {
                    failures.add(e.toString());
                }
                longestMillis.accumulateAndGet(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), Math::max);
            }
        });
        ProgressWait.await("the guest's first commands", () -> answered.get() >= 3 || loop.isDone(), () -> answered + " answered");

        daemon = daemon.reload();
        int atHandOver = answered.get();
        ProgressWait.await("commands answered by the successor", () -> answered.get() >= atHandOver + 5 || loop.isDone(),
                () -> answered + " answered, failures " + failures);
        stopLoop.set(true);
        loop.get(2, TimeUnit.MINUTES);

        System.out.printf("RELOAD answered=%d failed=%d longest_command_ms=%d%n", answered.get(), failures.size(), longestMillis.get());
        assertEquals(List.of(), failures, "every command across the reload answered");
        assertTrue(daemon.pid() != oldPid, "a new daemon serves");
        assertEquals(swtpm, swtpmPid(uuid), "the successor took the running swtpm over, not a new one");
        assertEquals(pcr16, pcr(g, 16), "PCR 16 as before the reload");
        assertEquals(XenbusState.CONNECTED, g.frontend().state(), "the guest never saw its TPM go away");
        assertEquals(Optional.of(XenbusState.CONNECTED), host.toolstack().backendState(g.domid(), 0));
        String log = daemon.log();
        assertTrue(log.contains("reload: started the successor daemon, pid " + daemon.pid()), log);
        assertTrue(log.contains("vTPM " + uuid + ": took over its running swtpm pid " + swtpm), log);
        assertTrue(log.matches("(?s).*ready [0-9.]+ s after exec: launcher, JVM and command line [0-9.]+ s,"
                + " folders, lock, service manager and swtpm --version [0-9.]+ s, master key [0-9.]+ s,"
                + " hypervisor and xenstored [0-9.]+ s, hand-over from the running daemon [0-9.]+ s, .*"), log);
    }

    @Test
    void aSuccessorThatCannotStartLeavesTheRunningDaemonServing() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("measured before the failed reload"));
        long oldPid = daemon.pid();
        long logStart = daemon.log().length();
        Files.writeString(config, "default-tpm-family = 3.0\n"); // the successor reads it afresh and refuses (78)

        new ProcessBuilder("kill", "-HUP", Long.toString(oldPid)).inheritIO().start().waitFor();
        ProgressWait.await("the failed reload reported", () -> daemon.log().substring((int) logStart).contains("reload failed"),
                () -> "no 'reload failed' line yet");

        String log = daemon.log().substring((int) logStart);
        assertTrue(log.contains("reload failed, still serving: the successor (pid"), log);
        assertTrue(log.contains("exited with status 78 before it was ready"), log);
        assertEquals(oldPid, daemon.pid());
        assertTrue(ProcessHandle.of(oldPid).map(ProcessHandle::isAlive).orElse(false), "the running daemon still runs");
        assertEquals(pcr16, pcr(g, 16), "and still serves the guest");
        assertEquals(java.util.OptionalInt.empty(), daemon.awaitExit(Duration.ofMillis(100)));
    }
}
