package org.vtpmback.backend.device;

import java.time.Duration;
import org.vtpmback.backend.engine.TpmEngine;

/**
 * The engine a data path's command is running in, as other threads see it: the removal check
 * ({@link RemovalCheck}, on the pool) refuses new commands and, when the running one overstays, kills its
 * swtpm. Thread-safe: {@link #enter} and {@link #leave} by whoever holds the device's turn (the reader
 * enters, the reply loop may leave), the rest from any thread.
 */
final class InFlight {
    private final System.Logger log;
    private final String device;
    /** The engine a command is running in, or null. */
    private volatile TpmEngine running;
    /** The toolstack is removing the device: refuse commands, never restart the engine. */
    private volatile boolean removing;

    /** @param log the data path's logger (its lines are the device's) */
    InFlight(System.Logger log, String device) {
        this.log = log;
        this.device = device;
    }

    /**
     * Publishes that a command is about to go to {@code engine}; false if the device is being removed
     * (then nothing may be sent, and the caller answers with a failure). Checked after publishing, so
     * {@link #abortForRemoval} sees one or the other.
     */
    boolean enter(TpmEngine engine) {
        running = engine;
        if (removing) {
            leave();
            return false;
        }
        return true;
    }

    /** The command is out of the engine (answered or failed). */
    void leave() {
        synchronized (this) {
            running = null;
            notifyAll();
        }
    }

    /** The engine the command runs in, between {@link #enter} and {@link #leave}. */
    TpmEngine engine() {
        return running;
    }

    boolean removing() {
        return removing;
    }

    /**
     * When the toolstack is removing the device: new commands are refused, the one in the engine gets
     * {@code grace} to finish, then its swtpm is killed so that it ends now (its guest gets a failure
     * response; the engine is closed later, in the device's turn) instead of holding the removal behind
     * a hung swtpm: libxl waits only 10 s for Closed. The engine is not restarted; the removal saves what
     * is left.
     */
    void abortForRemoval(Duration grace) {
        removing = true;
        TpmEngine stuck;
        synchronized (this) {
            long deadline = System.nanoTime() + grace.toNanos();
            long left;
            while (running != null && (left = deadline - System.nanoTime()) > 0) {
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            stuck = running;
        }
        if (stuck != null) {
            log.log(System.Logger.Level.WARNING, "{0}: the device is being removed while a command has run for over {1} s;"
                    + " killing its swtpm so that the removal does not wait for it", device, grace.toSeconds());
            stuck.abort();
        }
    }
}
