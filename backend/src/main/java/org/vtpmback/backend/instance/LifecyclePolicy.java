package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.xen.ShutdownReason;

/**
 * The vTPM lifecycle as pure functions of what is stored and what the toolstack and hypervisor say:
 * how an instance starts ({@link #start}) and what is kept when it ends ({@link #ending}). Nothing here
 * touches a file, an engine or xenstore, so every case is table-tested (LifecyclePolicyTest).
 */
public final class LifecyclePolicy {
    private LifecyclePolicy() {
    }

    /**
     * How a vTPM starts when its frontend connects.
     *
     * @param stored          what the store holds for the uuid (empty: never seen)
     * @param resumeRequested the backend key {@code resume} is true (restore, migration)
     * @param reattach        the backend was Connected when the daemon started: the guest kept running
     */
    public static StartMode.Decision start(Optional<InstanceRecord> stored, boolean resumeRequested, boolean reattach) {
        Optional<InstanceRecord.Snapshot> snapshot = stored.flatMap(InstanceRecord::snapshot);
        if (stored.isEmpty()) {
            if (resumeRequested || reattach) {
                // Manufacturing here would hand a restored guest a different TPM without anyone noticing.
                return new StartMode.Decision(StartMode.REFUSE, "a resume was requested but this host has no state for the vTPM"
                        + " (import it first: vtpmback import)");
            }
            return new StartMode.Decision(StartMode.MANUFACTURE, "first start of this vTPM");
        }
        if (resumeRequested) {
            return snapshot.isPresent()
                    ? new StartMode.Decision(StartMode.RESTORE, "resume requested; restoring the " + snapshot.get().reason() + " snapshot")
                    : new StartMode.Decision(StartMode.REFUSE, "resume requested but no suspend snapshot is stored (last end: "
                            + stored.get().lastEnd() + "); nothing was changed");
        }
        if (reattach) {
            return snapshot.isPresent()
                    ? new StartMode.Decision(StartMode.RESTORE, "daemon restarted under a running guest; restoring the "
                            + snapshot.get().reason() + " snapshot")
                    : new StartMode.Decision(StartMode.CLEAR_UNDER_RUNNING_GUEST, "daemon restarted under a running guest but no"
                            + " snapshot was kept (the daemon did not stop cleanly); the guest's TPM restarts clear with every PCR"
                            + " marked as restarted");
        }
        if (stored.get().lastEnd() == EndKind.NEW) {
            // made ahead of its guest (vtpmback create): its first start only boots it
            return new StartMode.Decision(StartMode.CLEAR, "first boot of the stored vTPM (" + stored.get().family()
                    + ", manufactured before its guest started); booting the stored record, no manufacture");
        }
        return new StartMode.Decision(StartMode.CLEAR, snapshot.isPresent()
                ? "boot; discarding the unused " + snapshot.get().reason() + " snapshot"
                : "boot (last end: " + stored.get().lastEnd() + ")");
    }

    /**
     * What an ending keeps.
     *
     * @param save             the end to record; empty: save nothing (the engine failed, its state is lost)
     * @param snapshot         keep the volatile state too, for a resume or re-attach
     * @param orderlyShutdown  send the TPM's orderly shutdown before saving
     */
    public record Ending(Optional<EndKind> save, boolean snapshot, boolean orderlyShutdown) {
    }

    /**
     * Whether the engine outlives the teardown: a daemon stop leaves each running guest's swtpm running
     * (after sealing its DAEMON_STOPPED snapshot), for the next daemon to take over as it is; the
     * snapshot is the fallback should the swtpm not live that long.
     */
    public static boolean leavesEngineRunning(Teardown why) {
        return why == Teardown.DAEMON_STOP;
    }

    /** Whether {@link #ending} needs the domain's shutdown reason for {@code why} (ask the hypervisor). */
    public static boolean needsShutdownReason(Teardown why) {
        return why == Teardown.DEVICE_REMOVED || why == Teardown.DEVICE_REMOVED_AFTER_CLOSE;
    }

    /**
     * What to keep when a device lets go of its running vTPM.
     *
     * @param why    why the device lets go
     * @param reason the domain's shutdown reason, asked only when {@link #needsShutdownReason}; empty if
     *               it did not shut down (destroyed) or is already gone
     */
    public static Ending ending(Teardown why, Optional<ShutdownReason> reason) {
        return switch (why) {
            case DAEMON_STOP -> new Ending(Optional.of(EndKind.DAEMON_STOPPED), true, false);
            case ENGINE_FAILED -> new Ending(Optional.empty(), false, false);
            case DEVICE_REMOVED, DEVICE_REMOVED_AFTER_CLOSE -> {
                // libxl removes the devices of a shut-down domain while it still exists; with the
                // frontend closed first (guest shutdown) the domain may already be gone when asked.
                EndKind end = reason.map(LifecyclePolicy::endOf)
                        .orElse(why == Teardown.DEVICE_REMOVED_AFTER_CLOSE ? EndKind.SHUTDOWN : EndKind.DESTROYED);
                // An orderly TPM shutdown keeps guest reboots from counting as dictionary-attack failures
                // (swtpm trap 5). Crashes and destroys stay hard resets, as on hardware.
                yield new Ending(Optional.of(end), end == EndKind.SUSPENDED, end == EndKind.SHUTDOWN);
            }
        };
    }

    private static EndKind endOf(ShutdownReason reason) {
        return switch (reason) {
            case SUSPEND -> EndKind.SUSPENDED;
            case POWEROFF, REBOOT, SOFT_RESET -> EndKind.SHUTDOWN;
            default -> EndKind.DESTROYED;
        };
    }
}
