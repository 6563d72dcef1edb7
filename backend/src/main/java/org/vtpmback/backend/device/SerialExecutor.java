package org.vtpmback.backend.device;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;

/**
 * Runs tasks one at a time, in submission order, on a shared pool: each device gets its own ordering
 * (events and TPM commands never overlap) without a thread of its own, so an idle guest costs no
 * thread. A task failing with an exception or a linkage error is logged and does not stop the ones after
 * it; any other {@link Error} is fatal.
 *
 * <p>A <em>turn</em> is the right to touch the device's confined state. A pool thread holds it while it
 * drains the queue; {@link #tryEnter()} lets another thread take it when nothing runs or waits (the data
 * path's event-channel reader: a command then costs no hand-off to the pool). Such a turn may pass from
 * thread to thread (reader, then the swtpm reply loop) and ends with {@link #exit()} or
 * {@link #continueOnPool}; tasks queued meanwhile run after it, in order. Hand-overs go through this
 * object's lock or a volatile write, so each holder sees what the last one wrote.
 */
public final class SerialExecutor implements Executor {
    private static final System.Logger LOG = System.getLogger(SerialExecutor.class.getName());

    private final Executor pool;
    private final String name;
    private final Queue<Runnable> tasks = new ArrayDeque<>();
    private boolean running;
    /** The most tasks ever waiting at once (guarded by tasks): how a test sees that a guest cannot grow the queue. */
    private int maxPending;

    public SerialExecutor(Executor pool, String name) {
        this.pool = pool;
        this.name = name;
    }

    @Override
    public void execute(Runnable task) {
        synchronized (tasks) {
            tasks.add(task);
            maxPending = Math.max(maxPending, tasks.size());
            if (running) {
                return;
            }
            running = true;
        }
        pool.execute(this::drain);
    }

    /**
     * Takes the turn for the calling thread if no task runs or waits (queued tasks keep their order: a
     * caller that cannot enter queues its work with {@link #execute} instead). Whoever entered must end
     * the turn, on any thread, with {@link #exit()} or {@link #continueOnPool}.
     */
    public boolean tryEnter() {
        synchronized (tasks) {
            if (running) { // tasks wait only while a turn is held: !running implies an empty queue
                return false;
            }
            running = true;
            return true;
        }
    }

    /** Ends a turn taken with {@link #tryEnter()}: the tasks queued meanwhile go to the pool. */
    public void exit() {
        synchronized (tasks) {
            if (tasks.isEmpty()) {
                running = false;
                return;
            }
        }
        pool.execute(this::drain);
    }

    /**
     * Ends the calling thread's part of a turn taken with {@link #tryEnter()}: {@code rest} runs on the
     * pool, still in the same turn (before any queued task), and the queue is drained after it.
     */
    public void continueOnPool(Runnable rest) {
        pool.execute(() -> {
            String poolName = Thread.currentThread().getName();
            Thread.currentThread().setName(name); // one rename each way for the rest and the queue after it: each is a syscall
            try {
                runLogged(rest);
                drainNamed();
            } finally {
                Thread.currentThread().setName(poolName);
            }
        });
    }

    /** How many tasks wait (not counting the one running). */
    public int pending() {
        synchronized (tasks) {
            return tasks.size();
        }
    }

    /** The most tasks that ever waited at once. */
    public int maxPending() {
        synchronized (tasks) {
            return maxPending;
        }
    }

    private void drain() {
        String poolName = Thread.currentThread().getName();
        Thread.currentThread().setName(name);
        try {
            drainNamed();
        } finally {
            Thread.currentThread().setName(poolName);
        }
    }

    /** Runs the queued tasks until none is left, on a thread already named after the device. */
    private void drainNamed() {
        while (true) {
            Runnable next;
            synchronized (tasks) {
                next = tasks.poll();
                if (next == null) {
                    running = false;
                    return;
                }
            }
            runLogged(next);
        }
    }

    private void runLogged(Runnable task) {
        try {
            task.run();
        } catch (RuntimeException | LinkageError e) {
            // A linkage error (a native library that cannot load) fails this task, not the device. Any
            // other Error (OutOfMemoryError...) ends the pool thread and, through the daemon's
            // uncaught-exception handler, the process (exit 70).
            LOG.log(System.Logger.Level.ERROR, name + ": task failed", e);
        }
    }
}
