package org.vtpmback.backend.instance;

import java.util.function.Function;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * The one way a vTPM is manufactured, for a daemon's first start ({@link EarlyManufacture}) and ahead of its
 * guest ({@link Provisioning}) alike: a blank TPM started aside from any guest, its factory identity given by
 * the {@link Manufacturer}, an orderly shutdown; the permanent state is the result. Thread-safe.
 */
final class AsideManufacture {
    private final EngineBoot boot;
    private final Manufacturer manufacturer;

    AsideManufacture(EngineBoot boot, Manufacturer manufacturer) {
        this.boot = boot;
        this.manufacturer = manufacturer;
    }

    /** The permanent state of a freshly manufactured TPM, and what {@code inspect} saw of it. */
    record Made<T>(byte[] permanent, T inspected) {
    }

    /** Manufactures {@code uuid} as {@code family}: its permanent state. */
    byte[] manufacture(Uuid uuid, TpmFamily family) {
        return manufacture(uuid, family, engine -> null).permanent();
    }

    /**
     * Manufactures {@code uuid} as {@code family}; {@code inspect} reads the manufactured TPM before its shutdown
     * (e.g. its EK), so nothing needs a second start to learn it.
     */
    <T> Made<T> manufacture(Uuid uuid, TpmFamily family, Function<TpmEngine, T> inspect) {
        // after a crash, recoverAfterCrash stops a swtpm left in this folder and keeps nothing of it
        TpmEngine engine = boot.startBlank(uuid.value(), family);
        try {
            manufacturer.manufacture(engine, uuid);
            T inspected = inspect.apply(engine);
            engine.shutdownOrderly();
            return new Made<>(engine.saveState(false).permanent(), inspected);
        } finally {
            engine.close();
            EngineBoot.removeFolder(boot.blankFolderOf(uuid.value()));
        }
    }
}
