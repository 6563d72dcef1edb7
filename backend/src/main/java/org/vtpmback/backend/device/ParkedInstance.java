package org.vtpmback.backend.device;

import java.util.Optional;
import java.util.concurrent.Executor;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.instance.Teardown;
import org.vtpmback.backend.state.Uuid;

/**
 * The vTPM a device keeps running while it has no ring: from a disconnect (frontend closed, ring
 * replaced, device failed) until the device's fate is known. A frontend of the same vTPM that
 * reconnects gets it back, with its TPM state as the guest left it; anything else (removal, daemon
 * stop, another vTPM now named at this path) saves and stops it. Kept apart so that who may reuse a
 * running vTPM, and how it is saved when it is not, is decided in one place.
 *
 * <p>Not thread-safe: confined to the device's executor.
 */
final class ParkedInstance {
    private final DeviceId id;
    /** The device's own logger: its lines keep the one source operators and the log rate limiter know. */
    private final System.Logger log;
    /** Where a removal's {@link ClosedOnTime} deadline runs. */
    private final Executor pool;
    /** The parked vTPM, or null. */
    private ActiveInstance parked;
    /** The frontend closed the device itself (guest shutdown, driver unload) since it last connected. */
    private boolean frontendClosed;

    ParkedInstance(DeviceId id, System.Logger log, Executor pool) {
        this.id = id;
        this.log = log;
        this.pool = pool;
    }

    /** Keeps {@code instance} running until {@link #takeIfSame} or {@link #finish}. */
    void park(ActiveInstance instance) {
        parked = instance;
    }

    /**
     * Hands back the parked vTPM if the backend still names it. The toolstack may detach the device
     * and attach another vTPM at the same path quickly enough (or in one transaction) that the device
     * never sees the directory gone: the backend's uuid then differs, and the parked vTPM is saved and
     * stopped as at a removal, never handed to the new device's guest.
     *
     * @param backendUuid the uuid the backend directory names now
     * @return the parked vTPM, no longer parked; empty if none was parked or it was not the same one
     */
    Optional<ActiveInstance> takeIfSame(Optional<String> backendUuid) {
        if (parked == null) {
            return Optional.empty();
        }
        boolean same;
        try {
            same = backendUuid.isPresent() && Uuid.parse(backendUuid.get()).equals(parked.uuid());
        } catch (IllegalArgumentException e) {
            same = false;
        }
        if (!same) {
            log.log(System.Logger.Level.WARNING, "{0}: the backend now names vTPM {1}, not the parked vTPM {2}: the device was"
                    + " replaced; saving and stopping {2}", id, backendUuid.orElse("(none)"), parked.uuid());
            finish(Teardown.DEVICE_REMOVED);
            return Optional.empty();
        }
        ActiveInstance instance = parked;
        parked = null;
        return Optional.of(instance);
    }

    /** The guest's driver closed the device (guest shutdown, driver unload). */
    void frontendClosed() {
        frontendClosed = true;
    }

    /** A frontend connected: a later removal no longer follows a close by the guest. */
    void frontendConnected() {
        frontendClosed = false;
    }

    /**
     * Saves and stops the parked vTPM for a removal by the toolstack (see {@link Teardown#DEVICE_REMOVED_AFTER_CLOSE}).
     *
     * @param reportClosed reports Closed to the toolstack; run (on another thread) only if the save overstays
     *     {@link ClosedOnTime#DEADLINE}, else the caller reports Closed after this returns
     */
    void finishForRemoval(Runnable reportClosed) {
        if (parked != null) {
            ClosedOnTime onTime = ClosedOnTime.arm(ClosedOnTime.DEADLINE, pool, reportClosed);
            try {
                finish(removal(), onTime::endingKnown);
            } finally {
                onTime.finished();
            }
        }
    }

    /** Saves and stops the parked vTPM when the backend directory is gone: there is no Closed to report. */
    void finishForRemoval() {
        finish(removal(), () -> { });
    }

    private Teardown removal() {
        return frontendClosed ? Teardown.DEVICE_REMOVED_AFTER_CLOSE : Teardown.DEVICE_REMOVED;
    }

    /** Saves and stops the parked vTPM as {@code why} requires, and lets go of it. */
    void finish(Teardown why) {
        finish(why, () -> { });
    }

    private void finish(Teardown why, Runnable endingKnown) {
        if (parked != null) {
            ActiveInstance instance = parked;
            parked = null;
            try {
                instance.deactivate(why, endingKnown);
            } catch (RuntimeException e) {
                log.log(System.Logger.Level.ERROR, id + ": saving the vTPM failed", e);
            }
        }
    }
}
