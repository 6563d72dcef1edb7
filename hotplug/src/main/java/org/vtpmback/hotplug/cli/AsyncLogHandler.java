package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The log handler of every command: formats each record on the caller's thread ({@link OneLineFormatter}, escaped;
 * the journal's format when stderr is the journal),
 * rate-limits it per logger, level and device ({@link LogRateLimiter}), and hands it to one writer thread
 * through a queue bounded in characters. A slow or blocked stderr (a full pipe, a stalled journal) thus
 * never blocks a device: when the queue is full the line is dropped and counted, and a "N log lines
 * dropped" line follows once the sink moves again. Every {@link #SUMMARY_INTERVAL} the writer logs one
 * "N similar lines suppressed" line per key that went over its budget.
 *
 * <p>The device of a line is the thread's name when it is a device's ({@code vtpm-<domid>-<devid>}, set by
 * the device's serial executor), else the {@code domain <domid> vtpm <devid>} the message starts with, else
 * the thread's name.
 *
 * <p>{@link #writeNow} bypasses queue and limits for the fatal-error handler; {@link #awaitWritten} lets a
 * stopping process wait, within a bound, until its last lines are out. Thread-safety: all public methods may
 * be called from any thread.
 */
final class AsyncLogHandler extends Handler {
    static final int BURST = 100;
    static final double PER_SECOND = 5;
    static final Duration SUMMARY_INTERVAL = Duration.ofSeconds(10);
    /** About 8 MiB of heap at most, whatever the sink does. */
    static final long MAX_QUEUED_CHARS = 4L * 1024 * 1024;

    private static final Pattern DEVICE_THREAD = Pattern.compile("vtpm-\\d+-\\d+");
    private static final Pattern DEVICE_PREFIX = Pattern.compile("^domain (\\d+) vtpm (\\d+)\\b");

    private final PrintStream out;
    private final OneLineFormatter formatter;
    private final LogRateLimiter limiter;
    private final LongSupplier nanoClock;
    private final long maxQueuedChars;
    private final BlockingQueue<String> queue = new LinkedBlockingQueue<>();
    private final AtomicLong queuedChars = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong enqueued = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final ReentrantLock sink = new ReentrantLock();
    private final Thread writer;
    private volatile boolean closed;

    AsyncLogHandler(PrintStream out, OneLineFormatter formatter) {
        this(out, formatter, new LogRateLimiter(BURST, PER_SECOND), System::nanoTime, MAX_QUEUED_CHARS);
    }

    AsyncLogHandler(PrintStream out, LogRateLimiter limiter, LongSupplier nanoClock, long maxQueuedChars) {
        this(out, new OneLineFormatter(), limiter, nanoClock, maxQueuedChars);
    }

    AsyncLogHandler(PrintStream out, OneLineFormatter formatter, LogRateLimiter limiter, LongSupplier nanoClock,
            long maxQueuedChars) {
        this.out = out;
        this.formatter = formatter;
        this.limiter = limiter;
        this.nanoClock = nanoClock;
        this.maxQueuedChars = maxQueuedChars;
        setFormatter(formatter);
        writer = new Thread(this::writeLoop, "vtpmback-log");
        writer.setDaemon(true);
        writer.start();
    }

    @Override
    public void publish(LogRecord record) {
        if (closed || !isLoggable(record)) {
            return;
        }
        String thread = Thread.currentThread().getName();
        var key = new LogRateLimiter.Key(record.getLoggerName(), OneLineFormatter.levelName(record.getLevel()),
                deviceTag(thread, record));
        if (!limiter.admit(key, nanoClock.getAsLong())) {
            return;
        }
        String line;
        try {
            line = formatter.format(record, thread);
        } catch (RuntimeException e) {
            line = formatter.unformattable(record, e);
        }
        enqueue(line);
    }

    static String deviceTag(String thread, LogRecord record) {
        if (DEVICE_THREAD.matcher(thread).matches()) {
            return thread;
        }
        String msg = record.getMessage();
        Object[] params = record.getParameters();
        if (msg != null && msg.startsWith("{0}") && params != null && params.length > 0) {
            msg = String.valueOf(params[0]); // e.g. "{0}: device gone" with a DeviceId
        }
        if (msg != null) {
            Matcher m = DEVICE_PREFIX.matcher(msg);
            if (m.lookingAt()) {
                return "vtpm-" + m.group(1) + "-" + m.group(2);
            }
        }
        return thread;
    }

    private void enqueue(String line) {
        if (queuedChars.addAndGet(line.length()) > maxQueuedChars) {
            queuedChars.addAndGet(-line.length());
            dropped.incrementAndGet();
            return;
        }
        enqueued.incrementAndGet();
        queue.add(line);
    }

    private void writeLoop() {
        long lastSweep = nanoClock.getAsLong();
        try {
            while (!closed || !queue.isEmpty()) {
                String line = queue.poll(200, TimeUnit.MILLISECONDS);
                if (line != null) {
                    queuedChars.addAndGet(-line.length());
                    write(line);
                    written.incrementAndGet();
                }
                long lost = dropped.getAndSet(0);
                if (lost > 0) {
                    write(formatter.format(summary("vtpmback", Level.WARNING, lost + " log lines dropped: the log output"
                            + " (stderr, the journal) did not keep up"), "vtpmback-log"));
                }
                if (nanoClock.getAsLong() - lastSweep >= SUMMARY_INTERVAL.toNanos()) {
                    lastSweep = nanoClock.getAsLong();
                    sweepNow();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Queues one "N similar lines suppressed" line per key that went over its budget since the last sweep. */
    void sweepNow() {
        for (LogRateLimiter.Suppressed s : limiter.sweep(nanoClock.getAsLong())) {
            LogRateLimiter.Key k = s.key();
            Level level = "ERROR".equals(k.level()) ? Level.SEVERE : "WARN".equals(k.level()) ? Level.WARNING : Level.INFO;
            enqueue(formatter.format(summary(k.logger(), level, s.count() + " similar " + k.level() + " lines suppressed"
                    + " (more than " + BURST + " at once or " + (int) PER_SECOND + " a second from this device and logger)"),
                    k.tag()));
        }
    }

    private static LogRecord summary(String logger, Level level, String message) {
        LogRecord r = new LogRecord(level, message);
        r.setLoggerName(logger);
        return r;
    }

    private void write(String line) {
        sink.lock();
        try {
            out.print(line);
            out.flush();
        } finally {
            sink.unlock();
        }
    }

    /** Writes what is queued, then {@code line}, on this thread and at once: the fatal handler's last words. */
    void writeNow(String line) {
        sink.lock();
        try {
            for (String queued = queue.poll(); queued != null; queued = queue.poll()) {
                queuedChars.addAndGet(-queued.length());
                out.print(queued);
                written.incrementAndGet();
            }
            out.print(line);
            out.flush();
        } finally {
            sink.unlock();
        }
    }

    /** Waits, at most {@code bound}, until every line queued so far is written; whether it was. */
    boolean awaitWritten(Duration bound) {
        long target = enqueued.get();
        long deadline = System.nanoTime() + bound.toNanos();
        while (written.get() < target) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Lines dropped because the queue was full, not yet reported. */
    long droppedSoFar() {
        return dropped.get();
    }

    @Override
    public void flush() {
        awaitWritten(Duration.ofSeconds(2));
    }

    /** Stops the writer after it wrote what is queued (at most 2 s); never closes the stream. */
    @Override
    public void close() {
        flush();
        closed = true;
    }
}
