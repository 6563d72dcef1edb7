package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.instance.DomainStatus;
import org.vtpmback.backend.instance.ManufacturePool;
import org.vtpmback.backend.instance.Manufacturer;
import org.vtpmback.backend.instance.PersistentInstances;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.VtpmStore;
import org.vtpmback.hotplug.config.StoreSettings;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * Opens the configured vTPM store: {@code <state-dir>/instances}, or the pool's etcd ({@code store = etcd}), sealed with
 * the master key.
 */
final class Instances {
    /** How long a migration destination waits for the source to save and release the vTPM. */
    static final Duration HANDOVER_TIMEOUT = Duration.ofSeconds(60);

    private Instances() {
    }

    /** The store as the {@code vtpmback} commands open it, while the daemon may be running ({@link InstanceStore#shared}). */
    static InstanceStore sharedStore(VtpmbackConfig config, MasterKey key) throws IOException {
        return InstanceStore.shared(config.instancesDir(), key);
    }

    /**
     * The daemon's instances; its stores own their folders, so they clear temp files a crash left there. With
     * {@code manufacture-pool} above 0 it keeps ready-made TPMs in {@code <state-dir>/pool}, sealed with the same
     * key; they fill once the daemon starts ({@link PersistentInstances#startBackgroundWork}).
     */
    static PersistentInstances open(VtpmbackConfig config, MasterKey key, EngineFactory engines, DomainStatus domains)
            throws IOException {
        VtpmStore store = config.store().kind() == StoreSettings.Kind.ETCD ? PoolStores.open(config, key)
                : new InstanceStore(config.instancesDir(), key);
        // manufacture-pool = 0: no pool at all; entries made earlier stay sealed until it is turned on again
        Optional<ManufacturePool.Settings> pool = config.poolSizes().isEmpty() ? Optional.empty()
                : Optional.of(new ManufacturePool.Settings(new InstanceStore(config.poolDir(), key), config.poolSizes()));
        return new PersistentInstances(store, engines, runtimeInstancesDir(config), config::familyOf,
                manufacturer(config), domains, HANDOVER_TIMEOUT, pool);
    }

    /** swtpm's working folders: under the runtime directory, a tmpfs, so plaintext never reaches a disk. */
    static Path runtimeInstancesDir(VtpmbackConfig config) {
        return config.runtimeDir().resolve("instances");
    }

    /** EK and EK certificate from the host's local CA, kept in {@code <state-dir>/ca}. */
    static Manufacturer manufacturer(VtpmbackConfig config) {
        return new StandardManufacturer(caDir(config));
    }

    /** The host's local EK CA: {@code <state-dir>/ca}. */
    static Path caDir(VtpmbackConfig config) {
        return config.stateDir().resolve("ca");
    }
}
