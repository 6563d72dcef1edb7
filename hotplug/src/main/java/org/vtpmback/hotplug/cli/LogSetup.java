package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.vtpmback.hotplug.config.LogLevel;

/**
 * Configures java.util.logging in code (no logging.properties): every record through one handler
 * that writes {@link OneLineFormatter} lines to stderr. {@link System.Logger}, which the backend uses,
 * ends up here too: with the java.logging module present, the JDK's default LoggerFinder is JUL.
 */
final class LogSetup {
    /** Libraries whose DEBUG output is noise to an operator: they log at DEBUG only with log-level=trace. */
    private static final List<Logger> QUIET = List.of(Logger.getLogger("com.sun.jna"));
    private static volatile boolean configured;
    private static volatile PrintStream sink = System.err;

    private LogSetup() {
    }

    /** Replaces the root logger's handlers with one writing to {@code err} at {@code level}. */
    static synchronized void configure(LogLevel level, PrintStream err) {
        Logger root = LogManager.getLogManager().getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
            h.close();
        }
        Handler handler = new StreamHandler(err);
        handler.setLevel(level.julLevel());
        root.addHandler(handler);
        root.setLevel(level.julLevel());
        for (Logger quiet : QUIET) {
            quiet.setLevel(level == LogLevel.DEBUG ? Level.INFO : null); // null: the root's level
        }
        sink = err;
        configured = true;
    }

    /**
     * Writes one ERROR record at once, past every handler and level, and flushes it: the last words of
     * {@link FatalErrorHandler}, which bounds how long this may take.
     */
    static void writeFatal(String message, Throwable cause) {
        LogRecord record = new LogRecord(Level.SEVERE, message);
        record.setLoggerName("vtpmback");
        record.setThrown(cause);
        String line = new OneLineFormatter().format(record);
        PrintStream out = sink;
        synchronized (out) {
            out.print(line);
            out.flush();
        }
    }

    static boolean isConfigured() {
        return configured;
    }

    /** Writes and flushes every record at once (java.util.logging.StreamHandler would buffer). */
    private static final class StreamHandler extends Handler {
        private final PrintStream out;

        StreamHandler(PrintStream out) {
            this.out = out;
            setFormatter(new OneLineFormatter());
        }

        @Override
        public void publish(LogRecord record) {
            if (!isLoggable(record)) {
                return;
            }
            String line;
            try {
                line = getFormatter().format(record);
            } catch (RuntimeException e) {
                line = record.getLevel() + " " + record.getLoggerName() + ": " + record.getMessage()
                        + " (unformattable: " + e + ")" + System.lineSeparator();
            }
            synchronized (out) {
                out.print(line);
                out.flush();
            }
        }

        @Override
        public void flush() {
            out.flush();
        }

        @Override
        public void close() {
            out.flush(); // never close stderr
        }
    }
}
