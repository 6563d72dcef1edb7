package org.vtpmback.backend.instance;

import org.vtpmback.backend.engine.TpmEngine;

/**
 * A vTPM instance in use by one device. Confined to that device's executor.
 */
public interface ActiveInstance {
    /** The running engine, ready for guest commands. */
    TpmEngine engine();

    /**
     * Replaces a dead engine with a new one on the same state (recovery after swtpm crashed). The
     * guest sees a TPM that lost its volatile state, as after a power cut.
     */
    TpmEngine restartEngine();

    /**
     * Called after every guest command: persists permanent-state changes (NV writes, new persistent
     * keys) right away, so a host crash loses at most the command in flight.
     */
    void afterCommand();

    /** Saves what {@code why} calls for, stops the engine and releases the instance. Idempotent. */
    void deactivate(Teardown why);
}
