package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * Reports Closed to the toolstack on time while a removal's save of the vTPM is slow. libxl gives a removal
 * 10 s to reach Closed (after that: "unable to remove device" and a 10 s delay per device), but each of the
 * save's requests to swtpm may wait its 10 s control timeout when swtpm hangs. The device reports Closed only
 * after the save, because the save must first learn why the domain went away (suspended or shut down), which
 * libxl's destroy erases; it learns that first, in milliseconds. So once it has and the save has run past
 * {@link #DEADLINE}, the device reports Closed and the save goes on behind it. Nothing is lost: a new device of
 * the same vTPM (the restore of a saved domain, a re-attach) waits until this one has saved and released it
 * ({@code InstanceLeases}), and a save that fails keeps the last committed generation, as it always did.
 *
 * <p>Thread-safe: the deadline passes on the JDK's delay thread, the other events come from the device's
 * executor; {@code reportClosed} runs at most once, on whichever thread completes the condition.
 */
final class ClosedOnTime {
    /** Well inside libxl's 10 s, leaving it time to see the node; far above a healthy save (milliseconds). */
    static final Duration DEADLINE = Duration.ofSeconds(5);

    private final Runnable reportClosed;
    private boolean endingKnown;
    private boolean late;
    private boolean done;

    private ClosedOnTime(Runnable reportClosed) {
        this.reportClosed = reportClosed;
    }

    /** Starts the clock: {@code reportClosed} runs if the ending is known and the save has not {@link #finished()} by the deadline. */
    static ClosedOnTime arm(Duration deadline, Executor pool, Runnable reportClosed) {
        ClosedOnTime clock = new ClosedOnTime(reportClosed);
        CompletableFuture.delayedExecutor(deadline.toNanos(), TimeUnit.NANOSECONDS, pool).execute(clock::deadlinePassed);
        return clock;
    }

    /** The save no longer needs the domain (see {@code ActiveInstance#deactivate(Teardown, Runnable)}). */
    void endingKnown() {
        boolean report;
        synchronized (this) {
            endingKnown = true;
            report = takeTurn();
        }
        if (report) {
            reportClosed.run();
        }
    }

    /** The save is over (saved, failed or nothing to save): the device reports Closed itself, as usual. */
    synchronized void finished() {
        done = true;
    }

    private void deadlinePassed() {
        boolean report;
        synchronized (this) {
            late = true;
            report = takeTurn();
        }
        if (report) {
            reportClosed.run();
        }
    }

    /** Whether the caller is the one to report Closed now; at most once. */
    private boolean takeTurn() {
        if (endingKnown && late && !done) {
            done = true;
            return true;
        }
        return false;
    }
}
