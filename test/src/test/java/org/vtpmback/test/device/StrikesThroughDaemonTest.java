package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xenstore.XenbusState;

/**
 * A guest that makes its device redo costly work (handshake restarts, swtpm restarts) is slowed down
 * by a backoff and, after a bounded number of strikes, has its device failed: error node, backend
 * Closed, one log line; the toolstack's removal still completes in time. A guest writing its own
 * state node badly is not a removal: its vTPM keeps running, parked.
 */
@UseSimulatedHost
@Timeout(300)
class StrikesThroughDaemonTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** HANDSHAKE_RESTART_LIMIT (6) restarts fail the device; more cycles than that means no limit. */
    private static final int MAX_CYCLES = 9;
    /** ENGINE_RESTART_LIMIT (5) swtpm deaths fail the device. */
    private static final int MAX_KILLS = 5;
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(800);

    @ParameterizedTest(name = "the guest leaves with state {0}")
    @ValueSource(strings = {"6", "0", "garbage", "deleted"})
    void handshakeRestartsBackOffThenFailTheDevice(String leave, SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), uuid)) {
            assertTrue(fe.connect(WAIT), "first connect; backend " + fe.backendState());
            long swtpm = SwtpmProcesses.of(host, uuid).pid();
            int restarts = 0;
            while (fe.errorNode().isEmpty() && restarts < MAX_CYCLES) {
                switch (leave) {
                    case "deleted" -> fe.deleteState();
                    case "garbage" -> fe.rawState("garbage");
                    default -> fe.rawState(leave);
                }
                assertTrue(fe.awaitBackend(XenbusState.CLOSED, WAIT), "backend follows to Closed; is " + fe.backendState());
                fe.state(XenbusState.INITIALISING);
                if (!awaitInitWaitUnlessFailed(fe)) {
                    break; // failed
                }
                restarts++;
                fe.state(XenbusState.INITIALISED);
                if (!fe.awaitBackend(XenbusState.CONNECTED, WAIT)) {
                    break;
                }
                assertEquals(swtpm, SwtpmProcesses.of(host, uuid).pid(),
                        "the guest's own state node is not a removal: its vTPM keeps running");
            }
            String error = fe.errorNode().orElseThrow(() -> new AssertionError("no error node after "
                    + MAX_CYCLES + " handshake restarts; backend " + fe.backendState()));
            assertTrue(error.contains("restarted the handshake"), error);
            assertTrue(fe.awaitBackend(XenbusState.CLOSED, WAIT), "a failed device is Closed; is " + fe.backendState());
            assertTrue(restarts < MAX_CYCLES, restarts + " restarts");
            System.out.println("HANDSHAKE-STRIKES leave=" + leave + " restarts-before-failure=" + restarts);

            fe.state(XenbusState.INITIALISING); // ignored now: only the toolstack's removal counts
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false), "removal of a failed device completes in time");
        }
    }

    /** Waits for the backend's InitWait (true) or the device's failure (false): whichever comes. */
    private static boolean awaitInitWaitUnlessFailed(HostileFrontend fe) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            if (fe.awaitBackend(XenbusState.INIT_WAIT, Duration.ofMillis(200))) {
                return true;
            }
            if (fe.errorNode().isPresent()) {
                return false;
            }
        }
        throw new AssertionError("neither InitWait nor failed; backend " + fe.backendState());
    }

    @Test
    void swtpmDyingAgainAndAgainIsRestartedWithBackoffThenTheDeviceFails(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), uuid)) {
            assertTrue(fe.connect(WAIT), "connect; backend " + fe.backendState());
            int kills = 0;
            int failures = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (fe.errorNode().isEmpty() && System.nanoTime() < deadline && kills <= MAX_KILLS + 2) {
                Optional<ProcessHandle> swtpm = SwtpmProcesses.all(host, uuid).stream().findFirst();
                if (swtpm.isPresent()) {
                    Signals.send("KILL", swtpm.get());
                    swtpm.get().onExit().join();
                    kills++;
                }
                byte[] answer = fe.exchange(TpmCommands.getRandom(8), WAIT)
                        .orElseThrow(() -> new AssertionError("no answer while swtpm is down or backing off"));
                if (TpmPackets.responseCode(answer) == 0x101) {
                    failures++;
                } else {
                    assertEquals(0, TpmPackets.responseCode(answer), HexFormat.of().formatHex(answer));
                }
                if (swtpm.isEmpty()) {
                    Thread.sleep(100); // backing off: poll again, nothing is asserted about time
                }
            }
            String error = fe.errorNode().orElseThrow(() -> new AssertionError("no error node after " + (MAX_KILLS + 2)
                    + " swtpm deaths; backend " + fe.backendState()));
            assertTrue(error.contains("TPM engine failed"), error);
            assertEquals(MAX_KILLS, kills, "the fifth death fails the device");
            assertTrue(fe.awaitBackend(XenbusState.CLOSED, WAIT), "a failed device is Closed; is " + fe.backendState());
            System.out.println("ENGINE-STRIKES kills=" + kills + " failure-answers=" + failures);
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false), "removal of a failed device completes in time");
        }
    }

    @Test
    void removalDoesNotWaitForACommandStuckInSwtpm(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), uuid)) {
            assertTrue(fe.connect(WAIT), "connect; backend " + fe.backendState());
            ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
            Signals.send("STOP", swtpm); // hung: the engine would wait 120 s for it
            try {
                fe.submit(TpmCommands.getRandom(8));
                // Let the command reach the stopped swtpm first (nothing outside the daemon shows when it has): a removal
                // that comes before it refuses the command instead, and its teardown save then waits on the stopped
                // swtpm's control channel, which is the other case (HungSwtpmRemovalTest). Nothing is asserted about this time.
                Thread.sleep(2000);
                assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false), "Closed within libxl's 10 s; is "
                        + fe.backendState());
                byte[] answer = fe.awaitAnswer(WAIT).orElseThrow(() -> new AssertionError("the stuck command got no answer"));
                assertEquals(0x101, TpmPackets.responseCode(answer), HexFormat.of().formatHex(answer));
            } finally {
                if (swtpm.isAlive()) {
                    Signals.send("CONT", swtpm);
                }
            }
        }
    }
}
