package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Issue 13, "Scale": the daemon's thread count does not grow with its guests. Each guest has a swtpm process; the
 * daemon once kept a JDK "process reaper" thread per swtpm, now one thread watches every swtpm's exit. Counted with
 * N and with 2N guests attached in one run (counts, never times). Left out of the count: the emulated guests'
 * threads (the test's) and the device pool's workers, which exist while devices have work and end 30 s after it
 * (bounded by the pool, not by the guests: ManyGuestsTest waits for them to end).
 */
@UseSimulatedHost
@Timeout(420)
class ThreadsPerGuestTest {
    private static final int GUESTS = 6;

    @Test
    void twiceTheGuestsCostTheDaemonNoMoreThreads(SimulatedVtpmHost host) throws Exception {
        DaemonThreads baseline = DaemonThreads.snapshot();
        answerOnce(host.bootMany(GUESTS));
        List<String> withN = daemonThreads(baseline);
        answerOnce(host.bootMany(GUESTS));
        assertEquals(2 * GUESTS, host.daemon().devices().size());
        List<String> with2N = daemonThreads(baseline);
        System.out.println("THREADS-PER-GUEST " + GUESTS + " guests: " + withN.size() + " " + withN + "; " + 2 * GUESTS
                + " guests: " + with2N.size() + " " + with2N);
        assertEquals(List.of(), with2N.stream().filter(n -> n.startsWith("process reaper")).toList(),
                "no JDK process reaper per swtpm");
        // started with the first swtpm (the pool's, at the daemon's start: before the baseline), so counted in the JVM
        assertEquals(1, Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("process-exits")).count(),
                "one thread watches every swtpm");
        // A thread per guest would add GUESTS; a thread started for a short while (the pool filler's manufacture,
        // a JDK cleaner) may come or go between the counts, so a margin of one, far below GUESTS.
        assertTrue(with2N.size() <= withN.size() + 1, GUESTS + " more guests added threads: " + withN + " -> " + with2N);
    }

    private static void answerOnce(List<Guest> guests) throws Exception {
        for (Guest g : guests) {
            TpmCommands.assertRandom(g.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        }
    }

    /** The threads added since {@code baseline} that are neither the test's nor the device pool's. */
    private static List<String> daemonThreads(DaemonThreads baseline) {
        List<Thread> pool = DaemonThreads.poolThreads();
        Map<String, List<String>> added = DaemonThreads.byOwner(baseline.added().stream().filter(t -> !pool.contains(t)).toList());
        List<String> counted = new java.util.ArrayList<>(added.getOrDefault("daemon", List.of()));
        counted.addAll(added.getOrDefault("jdk-process", List.of()));
        return counted.stream().sorted().toList();
    }
}
