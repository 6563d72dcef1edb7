package org.vtpmback.backend.engine;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * Creates {@link TpmEngine}s. The device layer also uses it to recover: after an engine died, close
 * it and create a new one on the same state dir (the dead process's state-dir lock is gone once
 * {@link TpmEngine#close()} returned). Implementations are thread-safe.
 */
public interface EngineFactory {
    /**
     * Starts an engine with the TPM not yet running.
     *
     * @param name     instance name, unique among live engines: names sockets and logs, appears in
     *                 every message; letters, digits, {@code . _ -}
     * @param family   TPM 2.0 or 1.2
     * @param stateDir the instance's own state directory (created if missing); two engines must never
     *                 share one (swtpm's {@code .lock}, trap 6)
     * @return a started engine, owned by the caller
     * @throws EngineException if swtpm cannot be started
     */
    TpmEngine create(String name, TpmFamily family, Path stateDir);

    /**
     * After a daemon restart: the engine process the last daemon left running on {@code stateDir}, if
     * one runs there and passes every check that it is the daemon's own.
     */
    default Optional<SurvivingEngine> survivor(Path stateDir) {
        return Optional.empty();
    }

    /**
     * After a daemon crash: if an engine process of the dead daemon still runs on {@code stateDir},
     * takes its running state (permanent and volatile) and stops it.
     *
     * @return the survivor's running state; empty if none runs there, or if its TPM was not running
     * @throws EngineException if a survivor runs there but does not hand over its state (it is stopped)
     */
    default Optional<StateBlobs> takeOverSurvivor(Path stateDir) {
        Optional<SurvivingEngine> survivor = survivor(stateDir);
        if (survivor.isEmpty()) {
            return Optional.empty();
        }
        Optional<StateBlobs> blobs = survivor.get().runningState();
        survivor.get().stop();
        return blobs;
    }

    /**
     * After the survivors were found and before any engine is created: stops every engine process the
     * last daemon left that is not a {@link #survivor} still held (it may be compromised), waiting
     * until it is gone.
     *
     * @return the uids of such processes still alive (none normally); their folders must be kept
     */
    default Set<Integer> stopStrays() {
        return Set.of();
    }
}
