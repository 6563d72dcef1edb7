package org.vtpmback.backend.device;

import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.instance.ActiveInstance;

/**
 * The rules around one guest command that keep an unsaved change from ever being acknowledged: before
 * it, a failed save is retried and a dead engine replaced (the command is refused meanwhile); after it, a
 * state change is saved before the answer goes out, and an engine that died with it makes the answer a
 * failure. One place for both ways of the data path (the executor's and the reply loop's). Confined to
 * the device's turn, on the device's executor: a save or a restart may take long.
 */
final class SaveGate {
    private final System.Logger log;
    private final String device;
    private final ActiveInstance instance;
    private final EngineRestarts engineRestarts;

    /** @param log the data path's logger (its lines are the device's) */
    SaveGate(System.Logger log, String device, ActiveInstance instance, Strikes engineRestarts) {
        this.log = log;
        this.device = device;
        this.instance = instance;
        this.engineRestarts = new EngineRestarts(log, device, instance, engineRestarts);
    }

    /**
     * Before a command: whether it may run. False: answer it with a failure (a save still fails, or swtpm
     * died while idle: this command learns that the TPM failed, the next one runs on the restarted engine;
     * while backing off nothing restarts and every command is answered at once, never queued).
     */
    boolean admit() {
        if (instance.fenced().isPresent()) {
            return false; // another host runs this vTPM now: nothing may run here, the device fails (failure())
        }
        if (instance.savePending() && !saveAgain()) {
            return false;
        }
        if (!instance.engine().isAlive()) {
            engineRestarts.restart();
            return false;
        }
        return true;
    }

    /**
     * After {@code engine} answered: whether the answer may go out. An engine dead by now may have
     * answered for real (swtpm exited right after) but its change was never saved, and the restart loads
     * the last saved state: never acknowledged. Else any change is saved first.
     *
     * @param removing the toolstack is removing the device: a dead engine is not restarted
     */
    boolean acknowledge(TpmEngine engine, boolean removing) {
        if (!engine.isAlive()) {
            lost(removing);
            return false;
        }
        return persist();
    }

    /** swtpm died (or broke the stream) with a command in it: restarted, unless the device is being removed. */
    void lost(boolean removing) {
        if (!removing) {
            engineRestarts.restart();
        }
    }

    /**
     * Why the device must be failed (too many engine restarts, or the vTPM fenced: another host of the pool owns it);
     * null while it serves.
     */
    String failure() {
        String restarts = engineRestarts.failure();
        return restarts != null ? restarts : instance.fenced().map(f -> "fenced: " + f).orElse(null);
    }

    /**
     * Persists NV and key changes before the guest sees the answer. When the save fails (disk full,
     * I/O error, swtpm lost while handing over its state) the guest is told the command failed, and
     * the change stays pending: {@link #saveAgain()} retries it before any later command runs.
     */
    private boolean persist() {
        try {
            instance.afterCommand();
            return true;
        } catch (RuntimeException e) {
            log.log(System.Logger.Level.ERROR, "{0}: saving the vTPM state failed: {1}; answering with a TPM failure"
                    + " and refusing commands until the state is saved", device, message(e));
            engineLost();
            return false;
        }
    }

    /** Retries the pending save; while it fails every command is refused, so nothing unsaved is ever acknowledged. */
    private boolean saveAgain() {
        if (engineLost()) {
            // The pending change died with swtpm (the guest was told it failed); the engine now runs on
            // the last saved state, which is durable by definition.
            log.log(System.Logger.Level.WARNING, "{0}: swtpm died with an unsaved change (answered as failed);"
                    + " serving from the last saved state", device);
            return instance.engine().isAlive();
        }
        try {
            instance.afterCommand();
            log.log(System.Logger.Level.INFO, "{0}: the vTPM state is saved again; serving commands", device);
            return true;
        } catch (RuntimeException e) {
            log.log(System.Logger.Level.WARNING, "{0}: the vTPM state still cannot be saved: {1}; command refused",
                    device, message(e));
            engineLost();
            return false;
        }
    }

    /**
     * After a failed save: if swtpm died meanwhile, its unsaved change died with it (and the guest was
     * told the command failed), so the engine restarts from the last durable state (which clears the
     * instance's pending save).
     */
    private boolean engineLost() {
        if (instance.engine().isAlive()) {
            return false;
        }
        engineRestarts.restart();
        return true;
    }

    private static String message(RuntimeException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
