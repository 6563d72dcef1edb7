package org.vtpmback.backend.instance;

/** How a vTPM starts when its frontend connects; {@link LifecyclePolicy#start} decides it. */
public enum StartMode {
    /** First start of this uuid: fresh TPM, EK and certificate, then a clear start. */
    MANUFACTURE,
    /** Boot or reboot: permanent state kept, PCRs and sessions reset, the backend sends Startup(CLEAR). */
    CLEAR,
    /**
     * The guest kept running but its TPM's volatile state is lost (the daemon restarted without a
     * snapshot): a clear start whose PCRs all carry the restart mark, never the values of a boot.
     */
    CLEAR_UNDER_RUNNING_GUEST,
    /** Resume: permanent and volatile state exactly as saved, no Startup. */
    RESTORE,
    /** A resume was asked for but there is nothing to resume from: refuse, change nothing. */
    REFUSE;

    /** The decision and the reason, in words an operator can act on. */
    public record Decision(StartMode mode, String reason) {
    }
}
