package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_A;
import static org.vtpmback.backend.state.InstanceStoreTest.UUID_B;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The fold's alarm: loud once per streak of failures, a WARNING per repeat interval after that, one line when it ends. */
class FoldAlarmTest {
    private static final Path DIR = Path.of("/var/lib/vtpmback/instances");
    private FoldAlarmLog log;

    @BeforeEach
    void listen() {
        log = new FoldAlarmLog();
    }

    @AfterEach
    void stop() {
        log.close();
    }

    private long count(Level level) {
        return log.count(level);
    }

    @Test
    void oneErrorPerStreakThenWarningsAtTheRepeatIntervalThenOneLineWhenItWorks() {
        FoldAlarm quiet = new FoldAlarm(DIR, Duration.ofSeconds(10), Duration.ofHours(1));
        for (int i = 0; i < 5; i++) {
            quiet.failed(Set.of(UUID_A), new IOException("cannot replace " + DIR.resolve(UUID_A.value() + ".vtpm") + ": No space left on device"));
        }
        assertEquals(1, count(Level.SEVERE));
        assertEquals(0, count(Level.WARNING));
        String error = FoldAlarmLog.format(log.records().get(0));
        for (String part : List.of(UUID_A.value(), DIR.resolve(UUID_A.value() + ".vtpm").toString(), "No space left on device",
                DIR.resolve("commit-0.log").toString(), "Free space", "every 10 s")) {
            assertTrue(error.contains(part), "'" + part + "' missing in: " + error);
        }
        assertTrue(quiet.status(UUID_A).orElseThrow().contains("No space left on device"));
        assertTrue(quiet.status(UUID_B).isEmpty(), "B has nothing only in the log");

        quiet.succeeded();
        assertEquals(1, count(Level.INFO));
        assertTrue(quiet.status(UUID_A).isEmpty());
        quiet.succeeded();
        assertEquals(1, count(Level.INFO), "no streak, nothing to say");

        log.clear();
        FoldAlarm repeating = new FoldAlarm(DIR, Duration.ofSeconds(10), Duration.ZERO);
        for (int i = 0; i < 3; i++) {
            repeating.failed(Set.of(UUID_A, UUID_B), new IOException("Input/output error"));
        }
        assertEquals(1, count(Level.SEVERE));
        assertEquals(2, count(Level.WARNING));
    }
}
