package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.device.DeviceId;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xenstore.XenbusState;

/**
 * A guest cannot grow its device's pending work: notifications and watch events sent while a command
 * is stuck in swtpm coalesce, and the flooding guest still gets its answer.
 */
@UseSimulatedHost
@Timeout(180)
class BoundedWorkTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int NOTIFICATIONS = 20_000;
    private static final int STATE_WRITES = 2_000;
    /** One running task, plus at most one queued "service the page" and one "re-read the state", plus slack for one-off tasks. */
    private static final int BOUND = 4;

    @Test
    void aFloodDuringASlowCommandQueuesO1WorkAndIsAnswered(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        try (HostileFrontend fe = new HostileFrontend(host, 700, uuid)) {
            assertTrue(fe.connect(SimulatedVtpmHost.WAIT), "connect; backend " + fe.backendState());
            ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
            Signals.send("STOP", swtpm); // the command hangs in swtpm, as a long RSA key generation would
            try {
                fe.submit(TpmCommands.getRandom(8));
                for (int i = 0; i < NOTIFICATIONS; i++) {
                    fe.notifyBackend();
                }
                for (int i = 0; i < STATE_WRITES; i++) {
                    fe.state(XenbusState.CONNECTED); // every write fires the backend's watch, even with the same value
                }
            } finally {
                Signals.send("CONT", swtpm);
            }
            byte[] answer = fe.awaitAnswer(WAIT).orElseThrow(() -> new AssertionError("the flooding guest got no answer"));
            assertEquals(0, TpmPackets.responseCode(answer), HexFormat.of().formatHex(answer));
            int max = host.daemon().maxPendingWork(new DeviceId(fe.domid, 0)).orElseThrow();
            System.out.println("BOUNDED-WORK notifications=" + NOTIFICATIONS + " state-writes=" + STATE_WRITES
                    + " max-pending-tasks=" + max);
            assertTrue(max <= BOUND, "the device queued " + max + " tasks at once");
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false));
        }
    }
}
