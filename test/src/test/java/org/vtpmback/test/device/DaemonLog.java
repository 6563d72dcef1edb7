package org.vtpmback.test.device;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Captures what the daemon logs: System.Logger goes to java.util.logging when no other backend is
 * installed, so a handler on the root logger sees every record at INFO and above, formatted as
 * the console shows it. Thread-safe; {@link #close()} detaches the handler.
 */
final class DaemonLog extends Handler implements AutoCloseable {
    private final List<String> lines = new ArrayList<>(); // guarded by this
    private final SimpleFormatter formatter = new SimpleFormatter();

    private DaemonLog() {
        setLevel(Level.ALL);
    }

    static DaemonLog capture() {
        DaemonLog log = new DaemonLog();
        Logger.getLogger("").addHandler(log);
        return log;
    }

    @Override
    public void publish(LogRecord record) {
        String line = record.getLevel() + " " + record.getLoggerName() + ": " + formatter.formatMessage(record);
        synchronized (this) {
            lines.add(line);
            notifyAll();
        }
    }

    /** The first line satisfying {@code wanted}, waiting up to {@code timeout}; null if none came. */
    synchronized String await(Predicate<String> wanted, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int checked = 0;
        while (true) {
            for (; checked < lines.size(); checked++) {
                if (wanted.test(lines.get(checked))) {
                    return lines.get(checked);
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    /** Waits for a line that contains every one of {@code parts}; fails the test with the log tail otherwise. */
    String awaitContaining(Duration timeout, String... parts) throws InterruptedException {
        String line = await(l -> java.util.Arrays.stream(parts).allMatch(l::contains), timeout);
        if (line == null) {
            throw new AssertionError("no log line containing " + List.of(parts) + " within " + timeout + "; last lines:\n"
                    + String.join("\n", tail(15)));
        }
        return line;
    }

    synchronized List<String> matching(Predicate<String> p) {
        return lines.stream().filter(p).toList();
    }

    synchronized List<String> tail(int n) {
        return List.copyOf(lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        Logger.getLogger("").removeHandler(this);
    }
}
