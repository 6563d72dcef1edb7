package org.vtpmback.backend.instance;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.DomainId;

/**
 * The swtpm of an existing vTPM, spawned from InitWait so that the guest's connect only loads the state: on a real
 * guest InitWait comes at device creation, seconds before tpmfront probes, so the spawn (the jail, swtpm's start,
 * its sockets: most of a connect) is hidden in the guest's boot.
 *
 * <p>It is spawned empty: no state loaded, nothing INITed. So nothing it does depends on what the connect decides
 * (the start mode, the resume flag, in a pool the vTPM's ownership), and its folder holds no state file, which is how
 * a crash take-over knows it runs no TPM ({@code Survivors}). It is spawned only with the vTPM's lease taken at once
 * (one engine per uuid on this host): while another device still holds the vTPM (a save going on, a local
 * migration's source) nothing is done early. It belongs to the one device it was spawned for, for that one uuid: the
 * device's connect takes it ({@link #take}), anything else ({@link #drop}: the device went away, named another
 * uuid, the daemon stops or reloads) stops it, removes its folder and lets the lease go; it never had state, so
 * nothing is saved.
 *
 * <p>Thread-safe; each device's calls come from its own executor, in order.
 */
final class EarlyEngines {
    private static final System.Logger LOG = System.getLogger(EarlyEngines.class.getName());

    /** A spawned engine and the lease it holds. */
    record Spawned(Uuid uuid, TpmEngine engine, InstanceLeases.Lease lease) {
    }

    private final EngineBoot boot;
    private final InstanceLeases leases;
    private final Map<String, Spawned> byDevice = new ConcurrentHashMap<>();

    EarlyEngines(EngineBoot boot, InstanceLeases leases) {
        this.boot = boot;
        this.leases = leases;
    }

    /**
     * Spawns vTPM {@code uuid}'s swtpm for {@code device} as {@code family}, unless it has one already; one it has
     * for another uuid is dropped first. Never throws: a failure only means the connect spawns.
     */
    void spawn(String device, DomainId guest, Uuid uuid, TpmFamily family) {
        Spawned had = byDevice.get(device);
        if (had != null && had.uuid().equals(uuid)) {
            return;
        }
        drop(device);
        Optional<InstanceLeases.Lease> lease = leases.tryAcquire(uuid, device);
        if (lease.isEmpty()) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: vTPM {1} is in use on this host (a device still holds it): nothing"
                    + " spawned early", device, uuid);
            return;
        }
        long t0 = System.nanoTime();
        try {
            TpmEngine engine = boot.spawnEmpty(uuid.value(), guest, family);
            byDevice.put(device, new Spawned(uuid, engine, lease.get()));
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: swtpm spawned while the guest boots ({2} ms), its state is"
                    + " loaded at connect", device, uuid, EarlyManufacture.millisSince(t0));
        } catch (EngineException e) {
            lease.get().close();
            LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: spawning its swtpm while the guest boots failed ({2});"
                    + " trying again at connect", device, uuid, e.getMessage());
        }
    }

    /**
     * The engine spawned for {@code device} if it is {@code uuid}'s and alive, handed over with its lease (the caller
     * owns both, and checks the family against the record); any other one is dropped.
     */
    Optional<Spawned> take(String device, Uuid uuid) {
        Spawned s = byDevice.get(device);
        if (s == null) {
            return Optional.empty();
        }
        if (!s.uuid().equals(uuid) || !s.engine().isAlive()) {
            LOG.log(System.Logger.Level.INFO, "{0}: not using the swtpm spawned at InitWait (vTPM {1}{2}) for vTPM {3}",
                    device, s.uuid(), s.engine().isAlive() ? "" : ", dead", uuid);
            drop(device);
            return Optional.empty();
        }
        byDevice.remove(device);
        return Optional.of(s);
    }

    /** Stops the engine spawned for {@code device}, if any, removes its folder and lets its lease go. */
    void drop(String device) {
        Spawned s = byDevice.remove(device);
        if (s == null) {
            return;
        }
        try {
            discard(s.uuid(), s.engine());
        } finally {
            s.lease().close();
        }
        LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: stopped the swtpm spawned at InitWait, unused", device, s.uuid());
    }

    /** Stops an engine spawned here for {@code uuid} that nothing uses, and removes its folder (it never had state). */
    void discard(Uuid uuid, TpmEngine engine) {
        engine.close();
        EngineBoot.removeFolder(boot.folderOf(uuid.value()));
    }
}
