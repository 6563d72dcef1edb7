package org.vtpmback.backend.state;

import java.util.Optional;

/**
 * How a vTPM starts when its frontend connects; decided by {@link #decide}, a pure function of what is
 * stored and what the toolstack says, so every case is table-tested.
 */
public enum StartMode {
    /** First start of this uuid: fresh TPM, EK and certificate, then a clear start. */
    MANUFACTURE,
    /** Boot or reboot: permanent state kept, PCRs and sessions reset, the backend sends Startup(CLEAR). */
    CLEAR,
    /** Resume: permanent and volatile state exactly as saved, no Startup. */
    RESTORE,
    /** A resume was asked for but there is nothing to resume from: refuse, change nothing. */
    REFUSE;

    /** The decision and the reason, in words an operator can act on. */
    public record Decision(StartMode mode, String reason) {
    }

    /**
     * @param stored          what the store holds for the uuid (empty: never seen)
     * @param resumeRequested the backend key {@code resume} is true (restore, migration)
     * @param reattach        the backend was Connected when the daemon started: the guest kept running
     */
    public static Decision decide(Optional<InstanceRecord> stored, boolean resumeRequested, boolean reattach) {
        Optional<InstanceRecord.Snapshot> snapshot = stored.flatMap(InstanceRecord::snapshot);
        if (stored.isEmpty()) {
            if (resumeRequested || reattach) {
                // Manufacturing here would hand a restored guest a different TPM without anyone noticing.
                return new Decision(REFUSE, "a resume was requested but this host has no state for the vTPM"
                        + " (import it first: vtpmback import)");
            }
            return new Decision(MANUFACTURE, "first start of this vTPM");
        }
        if (resumeRequested) {
            return snapshot.isPresent()
                    ? new Decision(RESTORE, "resume requested; restoring the " + snapshot.get().reason() + " snapshot")
                    : new Decision(REFUSE, "resume requested but no suspend snapshot is stored (last end: "
                            + stored.get().lastEnd() + "); nothing was changed");
        }
        if (reattach) {
            return snapshot.isPresent()
                    ? new Decision(RESTORE, "daemon restarted under a running guest; restoring the " + snapshot.get().reason() + " snapshot")
                    : new Decision(CLEAR, "daemon restarted under a running guest but no snapshot was kept (the daemon"
                            + " did not stop cleanly); the guest's TPM restarts with its PCRs reset");
        }
        return new Decision(CLEAR, snapshot.isPresent()
                ? "boot; discarding the unused " + snapshot.get().reason() + " snapshot"
                : "boot (last end: " + stored.get().lastEnd() + ")");
    }
}
