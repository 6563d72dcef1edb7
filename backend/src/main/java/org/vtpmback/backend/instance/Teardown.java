package org.vtpmback.backend.instance;

/** Why a device lets go of its vTPM; decides what of the TPM's state is kept. */
public enum Teardown {
    /** The guest closed or the toolstack removed the device; ask the hypervisor why the domain went away. */
    DEVICE_CLOSED,
    /** The daemon stops while the guest keeps running: keep everything so a restarted daemon re-attaches. */
    DAEMON_STOP,
    /** The engine failed; nothing can be saved from it. */
    ENGINE_FAILED
}
