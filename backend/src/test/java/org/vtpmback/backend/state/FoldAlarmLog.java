package org.vtpmback.backend.state;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The lines {@link FoldAlarm} (or another class of the store) logs while open, for the tests that judge how loud a
 * failing fold, or a commit log found held, is.
 */
final class FoldAlarmLog extends Handler implements AutoCloseable {
    private final Logger logger;
    private final List<LogRecord> logged = new CopyOnWriteArrayList<>();

    FoldAlarmLog() {
        this(FoldAlarm.class);
    }

    /** The lines of {@code source}'s logger. */
    FoldAlarmLog(Class<?> source) {
        logger = Logger.getLogger(source.getName());
        logger.addHandler(this);
    }

    /** Every line so far, oldest first (live: later lines appear in it). */
    List<LogRecord> records() {
        return logged;
    }

    long count(Level level) {
        return logged.stream().filter(r -> r.getLevel() == level).count();
    }

    /** The line's message with its parameters filled in, as the journal shows it. */
    static String format(LogRecord r) {
        return new SimpleFormatter().formatMessage(r);
    }

    void clear() {
        logged.clear();
    }

    @Override
    public void publish(LogRecord r) {
        logged.add(r);
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        logger.removeHandler(this);
    }
}
