package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class OneLineFormatterTest {
    @Test
    void oneLineWithUtcTimeLevelThreadShortNameAndMessage() {
        LogRecord r = new LogRecord(Level.INFO, "serving backend domain {0}");
        r.setParameters(new Object[] {3});
        r.setLoggerName("org.vtpmback.backend.device.VtpmDaemon");
        r.setInstant(Instant.parse("2026-11-27T04:40:00.123Z"));
        String line = new OneLineFormatter().format(r);
        assertEquals("2026-11-27T04:40:00.123Z INFO  [" + Thread.currentThread().getName()
                + "] VtpmDaemon: serving backend domain 3" + System.lineSeparator(), line);
    }

    @Test
    void levelsUseTheConfigNamesAndThrowablesFollow() {
        LogRecord r = new LogRecord(Level.SEVERE, "boom");
        r.setLoggerName("vtpmback");
        r.setThrown(new IllegalStateException("why"));
        String text = new OneLineFormatter().format(r);
        assertTrue(text.contains(" ERROR [") && text.contains("] vtpmback: boom"), text);
        assertTrue(text.contains("java.lang.IllegalStateException: why"), text);
        assertEquals("WARN", OneLineFormatter.levelName(Level.WARNING));
        assertEquals("DEBUG", OneLineFormatter.levelName(Level.FINE));
        assertEquals("TRACE", OneLineFormatter.levelName(Level.FINEST));
    }
}
