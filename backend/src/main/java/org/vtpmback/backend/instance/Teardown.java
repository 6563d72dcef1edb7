package org.vtpmback.backend.instance;

/** Why a device lets go of its vTPM; decides what of the TPM's state is kept. */
public enum Teardown {
    /** The toolstack removed the device (online = 0, or its nodes vanished): ask the hypervisor why the domain went away. */
    DEVICE_REMOVED,
    /**
     * As {@link #DEVICE_REMOVED}, but the guest's driver had closed the device first, as Linux does
     * while shutting down: when the domain is already gone by the time we ask, it was a shutdown.
     */
    DEVICE_REMOVED_AFTER_CLOSE,
    /** The daemon stops while the guest keeps running: keep everything so a restarted daemon re-attaches. */
    DAEMON_STOP,
    /** The engine failed; nothing can be saved from it. */
    ENGINE_FAILED
}
