package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Files;
import java.util.function.Function;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AlreadyStoredException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.Uuid;

/**
 * Provisioning ahead of boot ({@code vtpmback create}): a vTPM manufactured before its guest exists, exactly as a
 * daemon's first start makes it ({@link AsideManufacture}, then {@link InstanceStore#create}), so that start
 * only boots it. Also reads what a stored vTPM presents (its EK, {@code vtpmback ek}) from a copy of its TPM.
 * Meant for a second process next to a running daemon, with engines in a runtime folder of its own: the store
 * refuses a uuid that the daemon (or anyone) stored meanwhile. Thread-safe.
 */
public final class Provisioning {
    private final InstanceStore store;
    private final EngineBoot boot;
    private final AsideManufacture aside;

    public Provisioning(InstanceStore store, EngineBoot boot, Manufacturer manufacturer) {
        this.store = store;
        this.boot = boot;
        this.aside = new AsideManufacture(boot, manufacturer);
    }

    /** A vTPM stored by {@link #create}, and what the inspection read of it before its shutdown. */
    public record Created<T>(InstanceRecord record, T inspected) {
    }

    /**
     * Manufactures {@code uuid} as {@code family} and stores it (end NEW); {@code inspect} reads the new TPM
     * before its shutdown.
     *
     * @throws AlreadyStoredException if {@code uuid} is stored, checked before the manufacture and again,
     *         atomically, when storing; nothing is written then
     * @throws IOException if the store cannot be written
     */
    public <T> Created<T> create(Uuid uuid, TpmFamily family, Function<TpmEngine, T> inspect) throws IOException {
        if (Files.exists(store.fileOf(uuid))) {
            throw new AlreadyStoredException(uuid, store.fileOf(uuid));
        }
        AsideManufacture.Made<T> made = aside.manufacture(uuid, family, inspect);
        return new Created<>(store.create(uuid, family, made.permanent()), made.inspected());
    }

    /**
     * What {@code inspect} reads of a copy of {@code record}'s TPM, started clear from its permanent state and
     * dropped afterwards: the stored vTPM is not changed, and may be in use meanwhile.
     */
    public <T> T inspect(InstanceRecord record, Function<TpmEngine, T> inspect) {
        return inspect(boot, record, inspect);
    }

    /** {@link #inspect(InstanceRecord, Function)} of a record read from any store (e.g. the pool's): it writes none. */
    public static <T> T inspect(EngineBoot boot, InstanceRecord record, Function<TpmEngine, T> inspect) {
        String vtpm = record.uuid().value();
        try (TpmEngine engine = boot.startCopy(vtpm, record.family(), record.permanent())) {
            return inspect.apply(engine);
        } finally {
            EngineBoot.removeFolder(boot.copyFolderOf(vtpm));
        }
    }
}
