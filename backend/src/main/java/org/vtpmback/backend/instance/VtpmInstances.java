package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.xen.DomainId;

/** Where vTPM instances come from: decides how each one starts and keeps its state. Thread-safe. */
public interface VtpmInstances {
    /**
     * Starts the vTPM for a connecting device: engine running, TPM started as the situation requires.
     *
     * @throws InstanceException with a message naming the uuid and the domain if it cannot be started
     */
    ActiveInstance activate(ActivationRequest request);

    /**
     * A device reached InitWait: its frontend connects soon. Starts what can be done before
     * {@link #activate} (a first start's manufacture, an existing vTPM's engine spawned empty), invisibly:
     * only activate's decision makes any of it count. Never throws; problems show up at activate.
     *
     * @param device the device, as messages name it
     * @param guest  the device's frontend domain
     * @param uuid   the backend's uuid key, unchecked
     */
    void prepare(String device, DomainId guest, Optional<String> uuid);

    /**
     * The device goes away (removed, taken offline, detached for a daemon stop or reload) without its frontend
     * connected: stops what {@link #prepare} started for it that only its connect could use. Idempotent; never throws.
     */
    default void unprepare(String device) {
    }

    /** Starts what runs beside the devices (e.g. refilling a pool of ready-made TPMs); the daemon calls it as it starts. */
    default void startBackgroundWork() {
    }

    /** Stops it, without waiting for long; the daemon calls it as it stops or hands over. Idempotent. */
    default void stopBackgroundWork() {
    }

    /**
     * Closes the store once every device has detached: the checkpoints still only in the commit log go to the record
     * files, and the keys are wiped. Work for no device (a vTPM being manufactured for a guest that has not connected)
     * ends before it, so no swtpm or runtime folder outlives the close. The daemon calls it last as it stops or hands
     * over; a failure is logged (the next start folds the log). Idempotent.
     */
    default void closeStore() {
    }
}
