package org.vtpmback.backend.instance;

import org.vtpmback.backend.engine.TpmEngine;

/**
 * A vTPM instance in use by one device. Confined to that device's turn: its executor, or the data path's
 * threads while they hold the turn ({@code SerialExecutor#tryEnter}).
 */
public interface ActiveInstance {
    /** The vTPM's uuid. */
    org.vtpmback.backend.state.Uuid uuid();

    /** The running engine, ready for guest commands. */
    TpmEngine engine();

    /**
     * Replaces a dead engine with a new one on the same state (recovery after swtpm crashed). The
     * guest sees a TPM that lost its volatile state, as after a power cut.
     */
    TpmEngine restartEngine();

    /**
     * Called after every guest command: persists permanent-state changes (NV writes, new persistent
     * keys) right away, so a host crash loses at most the command in flight. A change whose save
     * failed stays pending: the next call saves it again.
     *
     * @throws RuntimeException if the save failed (disk full, I/O error, swtpm lost while handing over
     *     its state); the caller must not acknowledge the command as done
     */
    void afterCommand();

    /**
     * Whether {@link #afterCommand()} has anything to do: swtpm rewrote its permanent state since the last
     * save, or a failed save is pending. Cheap (one stat of swtpm's state file, nothing else), so the data
     * path asks it on its shared threads and leaves the save itself to the device's executor; when false,
     * {@link #afterCommand()} would do nothing.
     */
    boolean checkpointNeeded();

    /**
     * Whether a change is pending whose save failed (the guest was told its command failed): until
     * {@link #afterCommand()} succeeds, no command may run. Kept here, not by the ring, so a new ring
     * of the same guest (resume in place, reconnect) inherits it.
     */
    boolean savePending();

    /**
     * Why this host may no longer write this vTPM (another host of the pool took it over), if so: every command is
     * then answered with a TPM failure, and the device fails with this reason. Cheap; asked before every command.
     */
    default java.util.Optional<String> fenced() {
        return java.util.Optional.empty();
    }

    /** For status output; called from any thread, so it reads only what is safely published. */
    InstanceStatus status();

    /** Saves what {@code why} calls for, stops the engine and releases the instance. Idempotent. */
    default void deactivate(Teardown why) {
        deactivate(why, () -> { });
    }

    /**
     * As {@link #deactivate(Teardown)}; {@code endingKnown} runs (on the caller's thread) as soon as the save no
     * longer needs the domain: it has read why the domain went away, or needs no reason. From then on the
     * toolstack may destroy the domain while the save goes on (a device being removed reports Closed late).
     */
    void deactivate(Teardown why, Runnable endingKnown);
}
