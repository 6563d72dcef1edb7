package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The journal's format: one line per record, the sd-daemon(3) priority prefix, no time stamp (issue 11). */
class JournalFormatTest {
    @TempDir
    Path tmp;

    private static LogRecord record(Level level, String message) {
        LogRecord r = new LogRecord(level, message);
        r.setLoggerName("org.vtpmback.backend.device.VtpmDaemon");
        return r;
    }

    @Test
    void aRecordIsItsPriorityThreadLoggerAndMessageWithoutTimeOrLevelWord() {
        LogRecord r = record(Level.INFO, "serving backend domain {0}");
        r.setParameters(new Object[] {3});
        assertEquals("<6>[vtpm-7-0] VtpmDaemon: serving backend domain 3" + System.lineSeparator(),
                OneLineFormatter.forJournal().format(r, "vtpm-7-0"));
    }

    @Test
    void everyLevelMapsToItsSyslogPriority() {
        OneLineFormatter f = OneLineFormatter.forJournal();
        // java.util.logging levels, and what the JDK maps System.Logger's ERROR/WARNING/INFO/DEBUG/TRACE to
        String[][] cases = {{"SEVERE", "<3>"}, {"WARNING", "<4>"}, {"INFO", "<6>"}, {"CONFIG", "<7>"}, {"FINE", "<7>"},
                {"FINER", "<7>"}, {"FINEST", "<7>"}, {"ALL", "<7>"}};
        for (String[] c : cases) {
            String line = f.format(record(Level.parse(c[0]), "m"), "t");
            assertTrue(line.startsWith(c[1] + "[t] "), c[0] + " -> " + line);
        }
    }

    @Test
    void aStackTraceIsFoldedIntoTheSameLine() {
        LogRecord r = record(Level.SEVERE, "handler failed");
        IllegalStateException e = new IllegalStateException("outer", new IllegalArgumentException("inner"));
        e.addSuppressed(new RuntimeException("suppressed"));
        r.setThrown(e);
        String text = OneLineFormatter.forJournal().format(r, "main");
        assertEquals(1, text.lines().count(), text);
        assertFalse(text.contains("\t"), text);
        assertTrue(text.startsWith("<3>[main] VtpmDaemon: handler failed | java.lang.IllegalStateException: outer | at "
                + "org.vtpmback.hotplug.cli.JournalFormatTest.aStackTraceIsFoldedIntoTheSameLine("), text);
        assertTrue(text.contains(" | Suppressed: java.lang.RuntimeException: suppressed | at "), text);
        assertTrue(text.contains(" | Caused by: java.lang.IllegalArgumentException: inner | ... "), text);
        assertTrue(text.matches("(?s).* \\| \\.\\.\\. \\d+ more.*"), text);
    }

    @Test
    void guestTextIsStillEscaped() {
        LogRecord r = record(Level.WARNING, "domain {0} vtpm 0: bad ring-ref ''{1}''");
        r.setParameters(new Object[] {7, "1\n<3>[vtpm-8-0] VtpmDevice: forged\r\u001b[2J"});
        r.setThrown(new IllegalStateException("trace\n<3>forged too"));
        String text = OneLineFormatter.forJournal().format(r, "vtpm-7-0");
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.contains("bad ring-ref '1\\n<3>[vtpm-8-0] VtpmDevice: forged\\r\\e[2J'"), text);
        assertTrue(text.contains(" | java.lang.IllegalStateException: trace\\n<3>forged too | at "), text);
    }

    @Test
    void aHugeRecordIsCutBelowJournaldsLineMax() {
        String text = OneLineFormatter.forJournal().format(record(Level.WARNING, "\u20ac".repeat(40_000)), "t");
        assertTrue(text.getBytes(StandardCharsets.UTF_8).length < 48 * 1024, "one entry: " + text.length());
        assertTrue(text.contains(" more characters cut)"), text.substring(text.length() - 80));
    }

    @Test
    void theHandlerWritesTheFormatItIsGiven() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        AsyncLogHandler h = new AsyncLogHandler(out, OneLineFormatter.forJournal());
        try {
            LogRecord r = record(Level.SEVERE, "boom");
            r.setThrown(new RuntimeException("why"));
            h.publish(r);
            assertTrue(h.awaitWritten(Duration.ofSeconds(5)));
        } finally {
            h.close();
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.startsWith("<3>[") && text.contains("] VtpmDaemon: boom | java.lang.RuntimeException: why | at "), text);
    }

    @Test
    void aCommandsErrorLineIsOneErrEntry() {
        String jna = "vtpmback daemon: cannot connect to xenstored: Unable to load library 'libxenstore.so.4':\nnot found";
        assertEquals("<3>vtpmback daemon: cannot connect to xenstored: Unable to load library 'libxenstore.so.4':\\nnot found",
                Main.errorLine(true, jna));
        assertEquals(jna, Main.errorLine(false, jna), "a terminal gets the text as it is");
    }

    @Test
    void journalStreamCountsOnlyForTheDescriptorItNames() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        long dev = ((Number) Files.getAttribute(file, "unix:dev")).longValue();
        long ino = ((Number) Files.getAttribute(file, "unix:ino")).longValue();
        assertTrue(JournalStream.connected(dev + ":" + ino, file));
        assertFalse(JournalStream.connected(dev + ":" + (ino + 1), file), "another stream: stderr was redirected");
        assertFalse(JournalStream.connected(null, file));
        assertFalse(JournalStream.connected("", file));
        assertFalse(JournalStream.connected("garbage", file));
        assertFalse(JournalStream.connected(dev + ":" + ino, tmp.resolve("missing")));
        assertTrue(JournalStream.matches("18446744073709551615:1", -1L, 1), "dev_t is unsigned");
        assertFalse(JournalStream.isStderr(new PrintStream(new ByteArrayOutputStream())), "only fd 2 can be the journal");
    }
}
