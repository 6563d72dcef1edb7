package org.vtpmback.backend.device;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;

/**
 * Runs tasks one at a time, in submission order, on a shared pool: each device gets its own ordering
 * (events and TPM commands never overlap) without a thread of its own, so an idle guest costs no
 * thread. A task failing with an exception or a linkage error is logged and does not stop the ones after
 * it; any other {@link Error} is fatal.
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
            while (true) {
                Runnable next;
                synchronized (tasks) {
                    next = tasks.poll();
                    if (next == null) {
                        running = false;
                        return;
                    }
                }
                try {
                    next.run();
                } catch (RuntimeException | LinkageError e) {
                    // A linkage error (a native library that cannot load) fails this task, not the device. Any
                    // other Error (OutOfMemoryError...) ends the pool thread and, through the daemon's
                    // uncaught-exception handler, the process (exit 70).
                    LOG.log(System.Logger.Level.ERROR, name + ": task failed", e);
                }
            }
        } finally {
            Thread.currentThread().setName(poolName);
        }
    }
}
