package org.vtpmback.backend.device;

import org.vtpmback.backend.instance.ActiveInstance;

/**
 * Replaces a data path's dead engine under the device's strike rules: a restart costs dom0 a new
 * swtpm and a state load (and marks the guest's PCRs), so a guest that kills its swtpm in a loop
 * gets a doubling backoff and, at the limit, a failed device instead of unbounded work. Confined to
 * the device's executor.
 */
final class EngineRestarts {
    private final System.Logger log;
    private final String device;
    private final ActiveInstance instance;
    private final Strikes strikes;
    private String failure;

    /**
     * @param log     the device's logger (its lines are the device's)
     * @param strikes the device's engine-restart strikes: they outlive one ring
     */
    EngineRestarts(System.Logger log, String device, ActiveInstance instance, Strikes strikes) {
        this.log = log;
        this.device = device;
        this.instance = instance;
        this.strikes = strikes;
    }

    /**
     * Replaces the dead engine from the last saved permanent state, unless the previous restarts were
     * too recent (backoff: the command is answered with a failure and a later one tries again) or
     * too many (the device is to be failed, see {@link #failure()}).
     *
     * @return whether a live engine is in place now
     */
    boolean restart() {
        if (failure != null || !strikes.backoffLeft().isZero()) {
            return false;
        }
        if (!strikes.strike()) {
            failure = "the TPM engine failed " + strikes.limit() + " times in a row; giving up on this device";
            return false;
        }
        log.log(System.Logger.Level.ERROR, "{0}: TPM engine died; restarting it (restart {1} of at most {2})", device,
                strikes.count(), strikes.limit() - 1);
        try {
            instance.restartEngine();
            log.log(System.Logger.Level.INFO, "{0}: TPM engine restarted", device);
            return true;
        } catch (RuntimeException e) {
            // Leave the dead engine in place: each later command gets a failure response, none hangs.
            log.log(System.Logger.Level.ERROR, device + ": TPM engine restart failed", e);
            return false;
        }
    }

    /** Why the device must be failed, once the restarts gave up; null until then. */
    String failure() {
        return failure;
    }
}
