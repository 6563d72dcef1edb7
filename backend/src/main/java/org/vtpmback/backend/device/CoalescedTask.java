package org.vtpmback.backend.device;

import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A level-triggered task queued at most once until it starts: requests made while it waits merge
 * into it, a request made once it has started queues it again (the flag is cleared before the task
 * runs, so no request is lost). This is what keeps a device's pending work O(1) whatever its guest
 * sends. {@link #request()} is thread-safe.
 */
final class CoalescedTask {
    private final Executor executor;
    private final Runnable task;
    private final AtomicBoolean queued = new AtomicBoolean();

    CoalescedTask(Executor executor, Runnable task) {
        this.executor = executor;
        this.task = task;
    }

    /** Queues the task unless it is already waiting to start. */
    void request() {
        if (queued.compareAndSet(false, true)) {
            executor.execute(() -> {
                queued.set(false);
                task.run();
            });
        }
    }
}
