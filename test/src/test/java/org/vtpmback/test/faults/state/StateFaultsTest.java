package org.vtpmback.test.faults.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * Power cuts and kill -9 at random points of the daemon's real work ({@link StateFaults}): 0 lost
 * acknowledged NV writes, 0 unloadable states. It runs only when {@code faults.state.points} is set,
 * so a plain {@code mvn verify} stays short: {@code scripts/faults-state.sh} sets it (20 points per
 * mode, CI's stage 1b through {@code scripts/faults.sh}; {@code --long}: 1,000). System properties:
 * {@code faults.state.points}, {@code faults.state.mode} (power, kill or both),
 * {@code faults.state.seed} (default: from the clock, printed), {@code faults.state.minutes} (stop
 * earlier, with fewer points, after this long), {@code faults.state.summary} (a file the summary lines
 * are appended to), {@code faults.state.verbose} (one line per point), {@code faults.state.progress} (a file prefix: the
 * summary so far is written to {@code <prefix>.<mode>} after each point).
 */
@UseXenstored
class StateFaultsTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;

    @Test
    void powerCutsLoseNoAcknowledgedWrite(XenstoredDaemon xsd) throws Exception {
        measure(xsd, StateFaults.Mode.POWER);
    }

    @Test
    void killPointsLoseNoAcknowledgedWrite(XenstoredDaemon xsd) throws Exception {
        measure(xsd, StateFaults.Mode.KILL);
    }

    private void measure(XenstoredDaemon xsd, StateFaults.Mode mode) throws Exception {
        Assumptions.assumeTrue(Integer.getInteger("faults.state.points") != null,
                "the state fault suite runs from scripts/faults-state.sh (or with -Dfaults.state.points=N)");
        String selected = System.getProperty("faults.state.mode", "both");
        Assumptions.assumeTrue(selected.equals("both") || selected.equalsIgnoreCase(mode.name()), "mode " + selected + " selected");
        int points = Integer.getInteger("faults.state.points");
        Duration budget = Duration.ofMinutes(Long.getLong("faults.state.minutes", 10L + points));
        long seed = Long.getLong("faults.state.seed", System.nanoTime() & 0xffffffffL);
        System.out.println("FAULTS state " + mode.name().toLowerCase(Locale.ROOT) + ": " + points + " points, seed " + seed
                + " (-Dfaults.state.seed=" + seed + " repeats them), work " + work);
        StateFaults.Summary s = assertTimeoutPreemptively(budget.plusMinutes(10), () -> {
            try (StateFaults faults = new StateFaults(xsd.socket(), work, mode, seed)) {
                String progress = System.getProperty("faults.state.progress", "");
                if (!progress.isBlank()) {
                    faults.progressTo(Path.of(progress + "." + mode.name().toLowerCase(Locale.ROOT)));
                }
                return faults.run(points, budget);
            }
        });
        System.out.println(s.line());
        s.failures().forEach(f -> System.out.println("  " + f));
        String summary = System.getProperty("faults.state.summary", "");
        if (!summary.isBlank()) {
            append(Path.of(summary), s.line());
        }
        assertEquals(0, s.lost() + s.unloadable() + s.phantom(), s.line() + "\n" + String.join("\n", s.failures()));
    }

    private static void append(Path file, String line) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, line + "\n", java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    }
}
