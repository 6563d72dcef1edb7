package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.vtpmback.xenstore.XenbusState;

/**
 * Rate-limits the handshake restarts of one device (back to InitWait, or a new ring without
 * closing). Each costs dom0 real work (mapping, binding, for a new uuid a manufacture), so a guest
 * that restarts in a loop must not be able to keep dom0 busy: after the first, restarts wait out a
 * doubling backoff (the device's re-read is requested again when it ends), and the
 * {@link #HANDSHAKE_RESTART_LIMIT}-th fails the device. Kept apart from the handshake itself so the
 * policy (what counts as a restart, how long to wait, when to give up) sits in one place.
 *
 * <p>Not thread-safe: confined to the device's executor, except the backoff timer, which runs on
 * the shared delayed executor and touches only {@code retryScheduled} and the (thread-safe)
 * re-read request.
 */
final class HandshakeRestarts {
    /**
     * Handshake restarts a frontend may make before its device is failed: waits of 0.25, 0.5, 1, 2,
     * 4 s between them, one forgiven per minute.
     */
    static final int HANDSHAKE_RESTART_LIMIT = 6;

    private final Strikes strikes = new Strikes(HANDSHAKE_RESTART_LIMIT, Duration.ofMillis(250),
            Duration.ofSeconds(4), Duration.ofMinutes(1));
    /** A delayed re-read is scheduled (a restart waiting out its backoff). */
    private final AtomicBoolean retryScheduled = new AtomicBoolean();
    /** Requests the device's re-read of its nodes; thread-safe. */
    private final Runnable reevaluate;
    /** Fails the device for good with the reason given; called on the device's executor. */
    private final Consumer<String> failDevice;
    /** The backend went to InitWait (or connected) at least once: going there again is a restart. */
    private boolean started;

    HandshakeRestarts(Runnable reevaluate, Consumer<String> failDevice) {
        this.reevaluate = reevaluate;
        this.failDevice = failDevice;
    }

    /** The backend reached InitWait or Connected: from now on, going back to InitWait is a restart. */
    void started() {
        started = true;
    }

    /** Going back to InitWait after having been there: the frontend starts over. */
    boolean isRestart(XenbusStep step) {
        boolean toInitWait = step instanceof XenbusStep.Switch s && s.to() == XenbusState.INIT_WAIT
                || step instanceof XenbusStep.Disconnect d && d.then() == XenbusState.INIT_WAIT;
        return toInitWait && started;
    }

    /**
     * Counts one restart, unless it must still wait (a re-read is then scheduled for when the wait
     * ends) or it is one too many (the device is then failed).
     *
     * @param what what the frontend did, for the failure reason
     * @return whether to go ahead now
     */
    boolean mayRestart(String what) {
        Duration wait = strikes.backoffLeft();
        if (!wait.isZero()) {
            reevaluateLater(wait);
            return false;
        }
        if (!strikes.strike()) {
            failDevice.accept("the frontend " + what + " " + HANDSHAKE_RESTART_LIMIT + " times in a short time");
            return false;
        }
        return true;
    }

    /** Re-reads the nodes after {@code delay} (a restart waiting out its backoff); one timer at a time. */
    private void reevaluateLater(Duration delay) {
        if (retryScheduled.compareAndSet(false, true)) {
            CompletableFuture.delayedExecutor(delay.toMillis() + 1, TimeUnit.MILLISECONDS).execute(() -> {
                retryScheduled.set(false);
                reevaluate.run();
            });
        }
    }
}
