package org.vtpmback.backend.engine;

import java.util.Optional;

/**
 * An engine process the last daemon left running (it stopped under running guests, or it died), found
 * and checked by {@link EngineFactory#survivor}. The new daemon either takes it over as it is
 * ({@link #adopt}: the guest's TPM goes on without a restart or a restore) or {@link #stop}s it.
 * Exactly one of {@link #adopt} and {@link #stop} is called, once. Thread-safe.
 */
public interface SurvivingEngine {
    /** Its process id, for log messages. */
    long pid();

    /**
     * Reads its TPM's running state (permanent and volatile) without stopping it.
     *
     * @return the state; empty if its TPM was not running (the last daemon stopped while starting or
     *         stopping it: then the store already holds everything there is)
     * @throws EngineException if it does not answer: it is stopped
     */
    Optional<StateBlobs> runningState();

    /**
     * Takes it over as a running engine named {@code name}, TPM state untouched.
     *
     * @throws EngineException if it died or does not accept the connections: it is stopped
     */
    TpmEngine adopt(String name, TpmFamily family);

    /** Stops it ({@code CMD_SHUTDOWN}, then a kill), waiting until it is gone. */
    void stop();
}
