package org.vtpmback.test.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jdi.ThreadReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.systemd.NotifyListener.Notification;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;

/**
 * The daemon under systemd's notify protocol ({@code Type=notify}, {@code WatchdogSec=}), with a real
 * AF_UNIX datagram socket standing in for systemd and the real daemon process on a real xenstored:
 * READY=1 only once a device present before the start has reached InitWait, STATUS= kept current,
 * keep-alives every half WATCHDOG_USEC that stop while any one of the reader threads the watchdog checks is
 * wedged (the daemon naming it) and come back after, STOPPING=1 on SIGTERM.
 */
@UseXenstored
@Timeout(300)
class ServiceNotifyTest {
    /** Keep-alives every second: short enough to count several in a few seconds. */
    private static final Duration WATCHDOG = Duration.ofSeconds(2);
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final int DOMID = 7;
    /**
     * Every thread the watchdog checks (VtpmDaemon.readers()), by name prefix: the xenstore watch reader, the
     * event-channel reader and the loop that answers started TPM commands. Without any one of them no guest is
     * served, so each, wedged alone, must stop the keep-alives.
     */
    private static final List<String> READERS = List.of("xs-watch", SimulatedEventChannels.THREAD_NAME, ReplyLoop.THREAD_NAME);

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private SimulatedVtpmHost host;
    private DaemonProcess daemon;

    @AfterEach
    void stop() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
        if (host != null) {
            host.close();
        }
    }

    @Test
    void readyAfterTheStartupScanThenStatusKeepAlivesWhileReadersTurnAndStopping(XenstoredDaemon xsd) throws Exception {
        host = new SimulatedVtpmHost(xsd.socket(), Files.createDirectories(work.resolve("guests")), work.resolve("sim"));
        // a guest created while no daemon ran: its device waits in Initialising for the daemon to find it
        host.domains().record(DOMID, Optional.empty());
        host.toolstack().createDomain(DOMID);
        host.toolstack().writeDevice(DOMID, 0, UUID.randomUUID().toString());

        try (NotifyListener systemd = NotifyListener.start(work.resolve("notify.sock"), true)) {
            CompletableFuture<DaemonProcess> starting = CompletableFuture.supplyAsync(() -> startDaemon(xsd, systemd));
            Notification ready = systemd.await("READY=1", WAIT).orElseThrow(() -> new AssertionError("no READY=1"));
            // the daemon is stopped (SIGSTOP on arrival): this is the device as it was when READY=1 was sent
            Optional<XenbusState> atReady = host.toolstack().backendState(DOMID, 0);
            cont(ready.pid());
            daemon = starting.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(ready.stopped(), "the listener stopped the sender of READY=1");
            assertEquals(daemon.pid(), ready.pid(), "READY=1 came from the daemon");
            assertTrue(atReady.filter(Set.of(XenbusState.INIT_WAIT, XenbusState.INITIALISED, XenbusState.CONNECTED)::contains)
                    .isPresent(), "the device present at start was in InitWait or later when READY=1 came, not " + atReady);
            assertEquals(Optional.of("serving 1 vTPM"), ready.value("STATUS"));

            host.create(UUID.randomUUID().toString(), false); // libxl adds a device: InitWait within 10 s
            assertTrue(systemd.await("STATUS=serving 2 vTPMs", WAIT).isPresent(), "STATUS follows the devices");
            assertTrue(daemon.log().contains("watchdog: 2000 ms timeout"), "WATCHDOG_USEC is read");

            keepAlivesWhileAllTurn(systemd);
            try (ThreadFreezer freezer = ThreadFreezer.attach(daemon.log())) {
                for (String reader : READERS) {
                    int logMark = daemon.log().length();
                    List<ThreadReference> frozen = freezer.freeze(reader);
                    // a check that passed just before the freeze may still send one: let it go by
                    Thread.sleep(WATCHDOG.toMillis() + 500);
                    systemd.clear();
                    Optional<Notification> ping = systemd.await("WATCHDOG=1", WATCHDOG.multipliedBy(2));
                    assertTrue(ping.isEmpty(), "no keep-alive while " + reader + " is wedged");
                    // the reason is this reader, not something else that stalled meanwhile (the probe, another reader)
                    assertTrue(daemon.log().substring(logMark).contains("reader " + reader),
                            "the daemon names " + reader + " as the reader not turning");
                    freezer.thaw(frozen);
                    assertTrue(systemd.await("WATCHDOG=1", WATCHDOG.multipliedBy(2)).isPresent(),
                            "keep-alives resume once " + reader + " turns again");
                }
            }
            assertTrue(daemon.log().contains("watchdog: withholding keep-alives"), "the daemon says why it withholds them");

            daemon.close(); // SIGTERM, as systemctl stop
            Notification stopping = systemd.await("STOPPING=1", WAIT).orElseThrow(() -> new AssertionError("no STOPPING=1"));
            assertTrue(stopping.value("STATUS").orElse("").startsWith("stopping"), stopping.toString());
            daemon = null;
        }
    }

    private void keepAlivesWhileAllTurn(NotifyListener systemd) throws InterruptedException {
        systemd.clear();
        int pings = 0;
        long deadline = System.nanoTime() + WATCHDOG.multipliedBy(2).toNanos();
        for (long left = deadline - System.nanoTime(); left > 0; left = deadline - System.nanoTime()) {
            if (systemd.await("WATCHDOG=1", Duration.ofNanos(left)).isPresent()) {
                pings++;
            }
        }
        // every half WATCHDOG_USEC: 4 in 2 timeouts, give or take the edges and a loaded machine
        assertTrue(pings >= 2, pings + " keep-alives in " + WATCHDOG.multipliedBy(2));
    }

    private DaemonProcess startDaemon(XenstoredDaemon xsd, NotifyListener systemd) {
        try {
            return DaemonProcess.start(xsd.socket(), work.resolve("sim"), work.resolve("daemon"),
                    Map.of("NOTIFY_SOCKET", systemd.socket().toString(), "WATCHDOG_USEC", Long.toString(WATCHDOG.toNanos() / 1000)),
                    List.of(ThreadFreezer.JVM_OPTION), "default-tpm-family=2.0");
        } catch (Exception e) {
            throw new CompletionException(e);
        }
    }

    private static void cont(long pid) throws Exception {
        Process kill = new ProcessBuilder("kill", "-CONT", Long.toString(pid)).inheritIO().start();
        assertEquals(0, kill.waitFor(), "kill -CONT " + pid);
    }
}
