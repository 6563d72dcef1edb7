package org.vtpmback.hotplug.cli;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;

/**
 * The daemon's one answer to an {@link Error} or an uncaught exception on any of its threads (event-channel
 * and watch readers, device workers): log one ERROR line, flush it within a bound, then
 * {@link Runtime#halt} with {@link #EXIT_STATUS}. A half-dead daemon that still holds devices is the worst
 * outcome (every guest hangs and systemd sees nothing wrong); a halted one is restarted by systemd and takes
 * over the running TPMs of the swtpm processes it left (docs/lifecycle.md, "After a daemon crash").
 *
 * <p>It halts rather than exits: no shutdown hook runs (the orderly stop would detach the guests and stop
 * their swtpm processes), and a wedged hook or a blocked stderr cannot keep the process alive. The line is
 * written by a thread started at install time, so nothing needs allocating a thread after the heap ran
 * out. The first failure wins; a thread failing after it waits for the halt.
 *
 * <p>Thread-safety: {@link #uncaughtException} may be called from any thread, concurrently.
 */
final class FatalErrorHandler implements Thread.UncaughtExceptionHandler {
    /** Exit status after a fatal error (70, EX_SOFTWARE of sysexits.h); the unit restarts on it. */
    static final int EXIT_STATUS = 70;
    /** How long the last line may take to reach stderr before the process halts without it. */
    static final Duration FLUSH_BOUND = Duration.ofSeconds(3);

    private final FatalLog log;
    private final IntConsumer halt;
    private final AtomicBoolean fired = new AtomicBoolean();
    private final CountDownLatch failed = new CountDownLatch(1);
    private final CountDownLatch written = new CountDownLatch(1);
    private volatile Thread failedThread;
    private volatile Throwable failure;

    /** Where the last line goes: synchronously, past any log queue. */
    interface FatalLog {
        void write(String line, Throwable cause);
    }

    FatalErrorHandler(FatalLog log, IntConsumer halt) {
        this.log = log;
        this.halt = halt;
        Thread writer = new Thread(this::writeLastLine, "vtpmback-fatal");
        writer.setDaemon(true);
        writer.start();
    }

    /** Installs a handler that halts the JVM as the default uncaught-exception handler of every thread. */
    static FatalErrorHandler installForThisProcess() {
        FatalErrorHandler handler = new FatalErrorHandler(LogSetup::writeFatal, status -> Runtime.getRuntime().halt(status));
        Thread.setDefaultUncaughtExceptionHandler(handler);
        return handler;
    }

    @Override
    public void uncaughtException(Thread t, Throwable e) {
        if (!fired.compareAndSet(false, true)) {
            awaitHalt();
            return;
        }
        try {
            failedThread = t;
            failure = e;
            failed.countDown();
            written.await(FLUSH_BOUND.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Throwable ignored) {
            // even an interrupt or another OutOfMemoryError here must not stop the halt
        } finally {
            halt.accept(EXIT_STATUS);
        }
    }

    private void writeLastLine() {
        try {
            failed.await();
            Throwable e = failure;
            log.write("fatal: " + e.getClass().getName() + " on thread " + failedThread.getName() + ": " + e.getMessage()
                    + "; exiting with status " + EXIT_STATUS + " (systemd restarts the daemon; running guests keep their"
                    + " TPMs in their swtpm processes)", e);
        } catch (Throwable ignored) {
            // nothing more to say: the halt comes anyway
        } finally {
            written.countDown();
        }
    }

    private static void awaitHalt() {
        try {
            Thread.sleep(FLUSH_BOUND.multipliedBy(2).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
