package org.vtpmback.backend.instance;

import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Function;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * The one way a vTPM is manufactured, for a daemon's first start ({@link EarlyManufacture}) and ahead of its
 * guest ({@link Provisioning}) alike: a blank TPM started aside from any guest, its factory identity given by
 * the {@link Manufacturer}, an orderly shutdown; the permanent state is the result. The pool of ready-made TPMs
 * ({@link ManufacturePool}) runs the first stage of a {@link StagedManufacturer} the same way. Thread-safe.
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

    /**
     * Manufactures {@code uuid} as {@code family}: its permanent state. {@code started} sees the blank engine before
     * the manufacturer runs, so that a stop can abort it (its swtpm killed: the manufacture then fails).
     */
    byte[] manufacture(Uuid uuid, TpmFamily family, Consumer<TpmEngine> started) {
        return aside(uuid.value(), boot.startBlank(uuid.value(), family), engine -> {
            started.accept(engine);
            manufacturer.manufacture(engine, uuid);
            return null;
        }).permanent();
    }

    /**
     * Manufactures {@code uuid} as {@code family}; {@code inspect} reads the manufactured TPM before its shutdown
     * (e.g. its EK), so nothing needs a second start to learn it.
     */
    <T> Made<T> manufacture(Uuid uuid, TpmFamily family, Function<TpmEngine, T> inspect) {
        // after a crash, recoverAfterCrash stops a swtpm left in this folder and keeps nothing of it
        return aside(uuid.value(), boot.startBlank(uuid.value(), family), engine -> {
            manufacturer.manufacture(engine, uuid);
            return inspect.apply(engine);
        });
    }

    /** The manufacturer, if it works in stages (then there can be a pool of ready-made TPMs). */
    Optional<StagedManufacturer> staged() {
        return manufacturer instanceof StagedManufacturer s ? Optional.of(s) : Optional.empty();
    }

    /**
     * The first stage aside, for a TPM not yet anyone's: a blank {@code family} TPM in the runtime folder of
     * {@code name} (a pool entry's uuid), {@code step} on it (which calls {@link StagedManufacturer#makeKeys}), an
     * orderly shutdown: its permanent state.
     */
    byte[] firstStage(Uuid name, TpmFamily family, Consumer<TpmEngine> step) {
        return aside(name.value(), boot.startBlank(name.value(), family), engine -> {
            step.accept(engine);
            return null;
        }).permanent();
    }

    private <T> Made<T> aside(String folder, TpmEngine engine, Function<TpmEngine, T> work) {
        try {
            T inspected = work.apply(engine);
            engine.shutdownOrderly();
            return new Made<>(engine.saveState(false).permanent(), inspected);
        } finally {
            engine.close();
            EngineBoot.removeFolder(boot.blankFolderOf(folder));
        }
    }
}
