package org.vtpmback.backend.instance;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.xen.BackgroundPriority;

/**
 * Keeps the {@link ManufacturePool} full: one thread of its own ({@code vtpm-pool-fill}) makes one entry at a
 * time, whenever a family is below its size, and sleeps otherwise. It runs at the lowest priority (nice 19), and
 * so does every swtpm it starts (a child gets the nice value of the thread that started it): key generation,
 * the slow part, only uses CPU that no guest's swtpm wants. After a failure it waits before trying again, longer
 * each time, up to {@link #MAX_BACKOFF}. {@link #close} kills the swtpm of an entry being made, so a stop or a
 * reload never waits for a key generation. An {@link Error} is fatal, as on every daemon thread.
 */
final class PoolFiller {
    private static final System.Logger LOG = System.getLogger(PoolFiller.class.getName());
    static final Duration FIRST_BACKOFF = Duration.ofSeconds(10);
    static final Duration MAX_BACKOFF = Duration.ofMinutes(10);
    private static final Duration JOIN = Duration.ofSeconds(10);

    private final ManufacturePool pool;
    /** Released by {@link #wake}: an entry was taken (or the filler is closing). */
    private final Semaphore wanted = new Semaphore(0);
    private final CountDownLatch closing = new CountDownLatch(1);
    private volatile Optional<TpmEngine> making = Optional.empty();
    private Thread thread;

    PoolFiller(ManufacturePool pool) {
        this.pool = pool;
    }

    synchronized void start() {
        if (thread != null || closing.getCount() == 0) {
            return;
        }
        thread = new Thread(this::run, "vtpm-pool-fill");
        thread.setDaemon(true);
        thread.start();
    }

    /** Something may be missing now: look again. */
    void wake() {
        wanted.release();
    }

    /** Stops the thread, killing the swtpm of an entry being made; waits for it a little. Idempotent. */
    void close() {
        Thread t;
        synchronized (this) {
            closing.countDown();
            t = thread;
        }
        wanted.release();
        making.ifPresent(engine -> {
            LOG.log(System.Logger.Level.INFO, "pool: stopping; the ready-made TPM being made is dropped");
            engine.abort();
        });
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(JOIN.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.log(System.Logger.Level.WARNING, "pool: the filler thread did not stop within {0}", JOIN);
            }
        }
    }

    private boolean closing() {
        return closing.getCount() == 0;
    }

    private void run() {
        try {
            BackgroundPriority.lowerCallingThread(BackgroundPriority.LOWEST);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "pool: refilling at normal priority, since the thread''s priority cannot"
                    + " be lowered: {0}", e.getMessage());
        }
        try {
            pool.readyBinding();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "pool: cannot ready the binding of ready-made TPMs ({0}); the first one"
                    + " bound will try again", e.getMessage());
        }
        Duration backoff = FIRST_BACKOFF;
        while (!closing()) {
            Optional<TpmFamily> family = pool.mostWanted();
            if (family.isEmpty()) {
                wanted.acquireUninterruptibly();
                wanted.drainPermits();
                continue;
            }
            try {
                pool.makeOne(family.get(), this::started);
                backoff = FIRST_BACKOFF;
            } catch (java.io.IOException | RuntimeException e) {
                if (closing()) {
                    break; // the swtpm was killed on purpose
                }
                LOG.log(System.Logger.Level.WARNING, "pool: making a ready-made {0} TPM failed ({1}); trying again in {2} s",
                        family.get(), e.getMessage(), backoff.toSeconds());
                pause(backoff);
                backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
            } finally {
                making = Optional.empty();
            }
        }
    }

    /** The engine of the entry being made, before its keys: a close from now on kills it. */
    private void started(TpmEngine engine) {
        making = Optional.of(engine);
        if (closing()) {
            throw new IllegalStateException("pool filler closing"); // close() may have looked before this engine was set
        }
    }

    private void pause(Duration d) {
        try {
            closing.await(d.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closing.countDown();
        }
    }
}
