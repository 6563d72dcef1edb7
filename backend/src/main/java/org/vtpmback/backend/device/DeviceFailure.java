package org.vtpmback.backend.device;

import java.util.function.Consumer;
import org.vtpmback.backend.instance.InstanceException;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.xenstore.XenbusState;

/**
 * How a device reports a failure, as Linux's xenbus_dev_fatal does: the ring is dropped, the reason written to
 * the backend's {@code error} node, then the state switched, so whoever sees the state change finds the reason.
 * Two kinds: a handshake step that failed ({@link #stepFailed}: Closing, the guest gives up on this ring and
 * may start over) and a device failed for good ({@link #failForGood}: a "buggy or malicious guest", every
 * later frontend change ignored until the toolstack removes the device). Kept apart so that the order of
 * the writes and the "for good" rule sit in one place. Confined to the device's executor.
 */
final class DeviceFailure {
    private final DeviceId id;
    /** The device's own logger: its lines keep the one source operators and the log rate limiter know. */
    private final System.Logger log;
    private final DeviceNodes nodes;
    /** The device's release of its ring (the vTPM stays parked). */
    private final Runnable releaseRing;
    /** The device's state switch (a no-op when unchanged, logged when not). */
    private final Consumer<XenbusState> switchState;
    /** The device was failed for good: only its removal by the toolstack is handled from now on. */
    private boolean failed;

    DeviceFailure(DeviceId id, System.Logger log, DeviceNodes nodes, Runnable releaseRing, Consumer<XenbusState> switchState) {
        this.id = id;
        this.log = log;
        this.nodes = nodes;
        this.releaseRing = releaseRing;
        this.switchState = switchState;
    }

    /** Whether {@link #failForGood} was called: the guest's writes are then ignored. */
    boolean failedForGood() {
        return failed;
    }

    /**
     * Fails the device for good, as xenbus_dev_fatal does for a "buggy or malicious guest": the
     * {@code error} node first (so whoever sees the state change finds the reason), then Closing and
     * Closed (Linux unregisters the TPM on either; libxl's removal then finds Closed and does not wait).
     * The vTPM stays parked, saved as usual when the toolstack removes the device; until then every
     * frontend change is ignored.
     */
    void failForGood(String reason) {
        if (failed) {
            return;
        }
        failed = true;
        log.log(System.Logger.Level.ERROR, "{0}: device failed: {1}; it stays Closed until the toolstack removes it", id, reason);
        report(reason, XenbusState.CLOSING, XenbusState.CLOSED);
    }

    /** A handshake step failed: reported, and the backend goes to Closing. */
    void stepFailed(RuntimeException e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        String prefix = id + ": ";
        // an InstanceException names the device already (its message also reaches the CLI): not twice in one line
        log.log(System.Logger.Level.ERROR, "{0}: {1}", id, message.startsWith(prefix) ? message.substring(prefix.length()) : message);
        if (!(e instanceof GuestProtocolException) && !(e instanceof InstanceException)) {
            log.log(System.Logger.Level.DEBUG, id + ": stack trace", e);
        }
        report(message, XenbusState.CLOSING); // as xenbus_dev_fatal does: the guest gives up on this device
    }

    /** Drops the ring, then writes the {@code error} node before the states, so whoever sees them finds the reason. */
    private void report(String reason, XenbusState... then) {
        releaseRing.run();
        try {
            nodes.writeError(reason);
            for (XenbusState state : then) {
                switchState.accept(state);
            }
        } catch (RuntimeException again) {
            log.log(System.Logger.Level.ERROR, id + ": could not report the failure in xenstore", again);
        }
    }
}
