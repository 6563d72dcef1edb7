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

    @Test
    void aGuestWrittenNewlineCannotForgeALine() {
        // e.g. a frontend's ring-ref value quoted in a warning
        LogRecord r = new LogRecord(Level.WARNING, "domain {0} vtpm 0: bad ring-ref ''{1}''");
        r.setParameters(new Object[] {7, "1\n2026-11-27T04:40:00.000Z ERROR [vtpm-8-0] VtpmDevice: forged\r\u001b[2J\u0085\u2028\u202e"});
        r.setLoggerName("org.vtpmback.backend.device.VtpmDevice");
        String text = new OneLineFormatter().format(r);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.endsWith("bad ring-ref '1\\n2026-11-27T04:40:00.000Z ERROR [vtpm-8-0] VtpmDevice: forged\\r\\e[2J"
                + "\\x85\\u2028\\u202e'" + System.lineSeparator()), text);
    }

    @Test
    void exceptionTextsAreEscapedAndEveryTraceLineIsIndented() {
        LogRecord r = new LogRecord(Level.SEVERE, "handler failed");
        r.setLoggerName("vtpmback");
        IllegalStateException e = new IllegalStateException("outer\n2026-11-27T04:40:00.000Z INFO  [main] x: forged",
                new IllegalArgumentException("inner\r\nforged too"));
        e.addSuppressed(new RuntimeException("suppressed\u001b"));
        r.setThrown(e);
        String text = new OneLineFormatter().format(r);
        java.util.List<String> lines = text.lines().toList();
        assertTrue(lines.get(0).endsWith("] vtpmback: handler failed"), text);
        for (String l : lines.subList(1, lines.size())) {
            assertTrue(l.startsWith("\t"), "not indented: " + l);
        }
        assertTrue(text.contains("\tjava.lang.IllegalStateException: outer\\n2026-11-27T04:40:00.000Z INFO  [main] x: forged"), text);
        assertTrue(text.contains("\tCaused by: java.lang.IllegalArgumentException: inner\\r\\nforged too"), text);
        assertTrue(text.contains("\tSuppressed: java.lang.RuntimeException: suppressed\\e"), text);
        assertTrue(text.contains("\t\tat org.vtpmback.hotplug.cli.OneLineFormatterTest."), text);
    }

    @Test
    void aHugeRecordIsCut() {
        LogRecord r = new LogRecord(Level.WARNING, "x".repeat(100_000));
        r.setLoggerName("vtpmback");
        String text = new OneLineFormatter().format(r);
        assertTrue(text.length() < OneLineFormatter.MAX_CHARS + 100, "length " + text.length());
        assertTrue(text.contains(" more characters cut)"), text.substring(text.length() - 80));
    }
}
