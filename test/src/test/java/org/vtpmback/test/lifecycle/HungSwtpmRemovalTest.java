package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;
import static org.vtpmback.test.lifecycle.GuestTpm.stored;

import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.device.Signals;
import org.vtpmback.test.device.SwtpmProcesses;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * A removal whose save waits on a swtpm that does not answer (SIGSTOP, no guest command in it) still reaches
 * Closed within libxl's 10 s: the device reports Closed once the save knows why the domain went away, and the
 * save goes on behind it. A swtpm that was only slow then finishes the save (nothing lost); one that dies fails
 * it, and the last committed generation is kept.
 */
@UseSimulatedHost
@Timeout(180)
class HungSwtpmRemovalTest {
    @RegisterExtension
    final LogCapture logs = new LogCapture();
    SimulatedVtpmHost host;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
    }

    @Test
    void xlSaveWithASlowSwtpmIsClosedInTimeAndTheSnapshotStillLands() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("before a slow save"));
        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        int mark = logs.size();
        Signals.send("STOP", swtpm); // no command in it: only the teardown's control requests will wait
        try {
            g.suspend(); // throws unless the backend reached Closed within libxl's 10 s
        } finally {
            Signals.send("CONT", swtpm); // within the save's 10 s control timeout: slow, not dead
        }
        assertEquals(1, logs.since(mark, "reporting Closed now").size(), logs.since(mark, "").toString());

        InstanceRecord ended = awaitEnded(host, uuid);
        assertEquals(EndKind.SUSPENDED, ended.lastEnd(), ended.toString());
        assertTrue(ended.snapshot().isPresent(), "the save went on behind Closed: " + ended);
        Guest restored = host.boot(uuid, true);
        assertEquals(pcr16, pcr(restored, 16), "PCR 16 as at suspend");
    }

    @Test
    void destroyWithAHungSwtpmIsClosedInTimeAndKeepsTheLastGeneration() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        long generation = stored(host, uuid).generation();
        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        int mark = logs.size();
        Signals.send("STOP", swtpm); // hung: the save's first control request would wait its 120 s control timeout
        assertTrue(g.destroy(), "Closed within libxl's 10 s");
        assertEquals(1, logs.since(mark, "reporting Closed now").size(), logs.since(mark, "").toString());

        // The save goes on behind Closed; the hung swtpm dies (as it would at the control timeout): the save fails
        // and commits nothing.
        Signals.send("KILL", swtpm);
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
        while (logs.since(mark, "saving the vTPM failed").isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertEquals(1, logs.since(mark, "saving the vTPM failed").size(), logs.since(mark, "").toString());
        InstanceRecord kept = stored(host, uuid);
        assertEquals(generation, kept.generation(), "the failed save committed nothing: " + kept);
        swtpm.onExit().get(30, java.util.concurrent.TimeUnit.SECONDS); // stopped with the engine

        Guest next = host.boot(uuid); // starts on the last committed generation
        assertEquals(ZERO32, pcr(next, 16), "a boot: clear start");
    }
}
