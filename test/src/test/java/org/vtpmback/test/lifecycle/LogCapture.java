package org.vtpmback.test.lifecycle;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Collects the daemon's log lines (java.util.logging under {@code org.vtpmback}) for assertions and
 * histories. A test holds it in a {@code @RegisterExtension} field: it then captures from the test
 * instance's creation, so from before {@code @UseSimulatedHost} starts the daemon, and detaches
 * after each test.
 */
final class LogCapture extends Handler implements AfterEachCallback, AutoCloseable {
    private final Logger logger = Logger.getLogger("org.vtpmback");
    private final SimpleFormatter formatter = new SimpleFormatter();
    private final List<String> lines = new ArrayList<>();

    LogCapture() {
        setLevel(Level.ALL);
        logger.addHandler(this);
    }

    @Override
    public synchronized void publish(LogRecord r) {
        lines.add(r.getLevel() + " " + r.getLoggerName().substring(r.getLoggerName().lastIndexOf('.') + 1) + ": "
                + formatter.formatMessage(r) + (r.getThrown() != null ? " (" + r.getThrown() + ")" : ""));
    }

    synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    /** Lines logged since {@code mark} (a previous {@link #size()}) that contain {@code text}. */
    synchronized List<String> since(int mark, String text) {
        return lines.subList(mark, lines.size()).stream().filter(l -> l.contains(text)).toList();
    }

    synchronized int size() {
        return lines.size();
    }

    @Override
    public void flush() {
    }

    @Override
    public void afterEach(ExtensionContext context) {
        close();
    }

    @Override
    public void close() {
        logger.removeHandler(this);
    }
}
