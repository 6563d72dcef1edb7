package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.vtpmback.hotplug.config.LogLevel;

/**
 * Configures java.util.logging in code (no logging.properties), for every command ({@link Main} calls it
 * once the configuration is loaded): every record through one {@link AsyncLogHandler} that writes
 * {@link OneLineFormatter} lines to stderr, escaped, rate-limited per device and off the caller's thread;
 * one journal entry per record, with its priority and no time stamp, when stderr is the journal
 * ({@link JournalStream}). {@link System.Logger}, which the backend uses, ends up here too:
 * with the java.logging module present, the JDK's default LoggerFinder is JUL.
 */
final class LogSetup {
    /** Libraries whose DEBUG output is noise to an operator: they log at DEBUG only with log-level=trace. */
    private static final List<Logger> QUIET = List.of(Logger.getLogger("com.sun.jna"));
    /** How long a finishing command waits for its last log lines to reach stderr. */
    static final Duration FLUSH_BOUND = Duration.ofSeconds(2);
    private static volatile AsyncLogHandler handler;
    private static volatile OneLineFormatter formatter = new OneLineFormatter();

    private LogSetup() {
    }

    /** Replaces the root logger's handlers with one writing to {@code err} at {@code level}. */
    static synchronized void configure(LogLevel level, PrintStream err) {
        Logger root = LogManager.getLogManager().getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
            h.close();
        }
        OneLineFormatter f = OneLineFormatter.forStream(err);
        AsyncLogHandler h = new AsyncLogHandler(err, f);
        h.setLevel(level.julLevel());
        root.addHandler(h);
        root.setLevel(level.julLevel());
        for (Logger quiet : QUIET) {
            quiet.setLevel(level == LogLevel.DEBUG ? Level.INFO : null); // null: the root's level
        }
        formatter = f;
        handler = h;
    }

    static boolean isConfigured() {
        return handler != null;
    }

    /**
     * Queues the pending "suppressed" counts, then waits, at most {@link #FLUSH_BOUND}, until the lines logged so
     * far are written (no-op if not configured).
     */
    static void flush() {
        AsyncLogHandler h = handler;
        if (h != null) {
            h.sweepNow();
            h.awaitWritten(FLUSH_BOUND);
        }
    }

    /**
     * Writes one ERROR record at once, on this thread, past every limit, after the lines still queued: the
     * last words of {@link FatalErrorHandler}, which bounds how long this may take.
     */
    static void writeFatal(String message, Throwable cause) {
        LogRecord record = new LogRecord(Level.SEVERE, message);
        record.setLoggerName("vtpmback");
        record.setThrown(cause);
        AsyncLogHandler h = handler;
        String line = (h != null ? formatter : OneLineFormatter.forStream(System.err)).format(record);
        if (h != null) {
            h.writeNow(line);
        } else {
            System.err.print(line);
            System.err.flush();
        }
    }
}
