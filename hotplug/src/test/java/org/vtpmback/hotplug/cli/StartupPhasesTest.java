package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** The start's log line counts from the exec, by the kernel's clock, and prints seconds to two places. */
class StartupPhasesTest {
    @Test
    void secondsToTwoPlacesRounded() {
        assertEquals("0.00 s", StartupPhases.seconds(0));
        assertEquals("0.05 s", StartupPhases.seconds(45_000_000));
        assertEquals("0.48 s", StartupPhases.seconds(484_999_999));
        assertEquals("1.00 s", StartupPhases.seconds(999_000_000));
        assertEquals("12.34 s", StartupPhases.seconds(12_340_000_000L));
    }

    /** This JVM's process was exec'd before the JVM started, and not long before (no launcher here: a few ticks). */
    @Test
    void theProcessIsAsOldAsTheJvmToATick() {
        long jvmUptime = ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000;
        long sinceExec = StartupPhases.nanosSinceExec();
        assertTrue(sinceExec >= jvmUptime - 20_000_000, sinceExec + " ns since exec, JVM up " + jvmUptime + " ns");
        assertTrue(sinceExec <= jvmUptime + 2_000_000_000L, sinceExec + " ns since exec, JVM up " + jvmUptime + " ns");
    }

    @Test
    void theFirstPhaseRunsFromTheExec() {
        StartupPhases phases = new StartupPhases();
        phases.mark("first");
        phases.mark("second");
        String summary = phases.summary();
        assertTrue(summary.matches("[0-9]+\\.[0-9]{2} s after exec: first [0-9]+\\.[0-9]{2} s, second [0-9]+\\.[0-9]{2} s"), summary);
        assertTrue(!summary.startsWith("0.00 s"), "the test JVM has run for a while: " + summary);
    }
}
