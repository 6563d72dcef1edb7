package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.commons.io.file.PathUtils;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AlreadyStoredException;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.VtpmStore;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.DomainId;

/**
 * vTPM instances kept in the encrypted {@link VtpmStore} (this host's folder, or a pool's etcd), started as
 * {@link StartMode} decides.
 *
 * <p>Where swtpm's own files live: in a per-uuid folder under the runtime directory (a tmpfs,
 * {@code /run/vtpmback}, mode 0700), filled from the store at start through swtpm's state blobs and
 * copied back into the store (sealed) whenever the permanent state changes and at teardown. So nothing
 * of a vTPM ever reaches a disk in plaintext, integrity is ours (AES-GCM, one atomic file per instance)
 * rather than swtpm's, and the whole instance commits in one rename.
 */
public final class PersistentInstances implements VtpmInstances {
    private static final System.Logger LOG = System.getLogger(PersistentInstances.class.getName());

    private final VtpmStore store;
    private final EngineBoot boot;
    private final EngineFactory engines;
    private final Path runtimeDir;
    private final Function<Uuid, TpmFamily> familyForNew;
    private final InstanceServices services;
    private final InstanceLeases leases = new InstanceLeases();
    /** Existing vTPMs' engines spawned at InitWait, under {@link #leases}. */
    private final EarlyEngines spawned;
    private final Duration handoverTimeout;
    private final EarlyManufacture early;
    private final Survivors survivors;
    private final Optional<ManufacturePool> pool;

    public PersistentInstances(VtpmStore store, EngineFactory engines, Path runtimeDir, Function<Uuid, TpmFamily> familyForNew,
                               Manufacturer manufacturer, DomainStatus domains, Duration handoverTimeout) {
        this(store, engines, runtimeDir, familyForNew, manufacturer, domains, handoverTimeout, Optional.empty());
    }

    /**
     * @param pool the pool of ready-made TPMs to keep ({@link ManufacturePool}); it fills from
     *             {@link #startBackgroundWork} on, and only with a {@link StagedManufacturer}
     */
    public PersistentInstances(VtpmStore store, EngineFactory engines, Path runtimeDir, Function<Uuid, TpmFamily> familyForNew,
                               Manufacturer manufacturer, DomainStatus domains, Duration handoverTimeout,
                               Optional<ManufacturePool.Settings> pool) {
        this.store = store;
        this.boot = new EngineBoot(engines, runtimeDir);
        this.engines = engines;
        this.runtimeDir = runtimeDir;
        this.familyForNew = familyForNew;
        this.handoverTimeout = handoverTimeout;
        AsideManufacture aside = new AsideManufacture(boot, manufacturer);
        this.pool = pool.flatMap(settings -> aside.staged().map(staged -> new ManufacturePool(settings, aside, staged)));
        if (pool.isPresent() && this.pool.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "no pool of ready-made TPMs: the manufacturer {0} does not work in stages",
                    manufacturer.getClass().getName());
        }
        this.early = new EarlyManufacture(aside, this.pool, r -> {
            Thread t = new Thread(r, "vtpm-early-manufacture");
            t.setDaemon(true);
            return t;
        });
        this.spawned = new EarlyEngines(boot, leases);
        this.services = new InstanceServices(store, boot, domains);
        this.survivors = new Survivors(engines, services);
    }

    /**
     * Finds the pool's entries and starts keeping it full (after {@link #recoverAfterCrash}, which removes every
     * runtime folder a last daemon left, the pool's among them).
     */
    @Override
    public void startBackgroundWork() {
        pool.ifPresent(ManufacturePool::start);
    }

    /** Stops refilling the pool; an entry being made is dropped. Idempotent. */
    @Override
    public void stopBackgroundWork() {
        pool.ifPresent(ManufacturePool::close);
    }

    @Override
    public void closeStore() {
        try {
            store.close();
        } catch (java.io.IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "closing the vTPM store {0} failed ({1}); the next start folds its commit log",
                    store.describe(), e.toString());
        }
    }

    /** The pool's entries ready now, per family (empty without a pool). */
    public Map<TpmFamily, Integer> poolReady() {
        return pool.map(ManufacturePool::readyCounts).orElse(Map.of());
    }

    /**
     * The swtpm processes of the running guests outlive the last daemon: a stop leaves them running on
     * purpose, a crash does not take them down, and the systemd unit leaves them alone. Their TPMs hold
     * state no store has after a crash (the guests' PCRs, sessions and loaded objects): for each such
     * one this first stores that state as a {@link EndKind#DAEMON_CRASHED} snapshot. Each trusted
     * survivor is then held for its guest's re-attach, which takes it over as it runs
     * ({@link Survivors}). Every other engine process left is killed ({@link EngineFactory#stopStrays}),
     * and only then every other runtime folder left over is removed, without following symlinks. Call
     * it once, before the daemon serves any device.
     *
     * @return how many vTPMs a crashed daemon left running (their state was stored here)
     */
    public int recoverAfterCrash() {
        List<Path> leftovers = List.of();
        if (Files.isDirectory(runtimeDir, LinkOption.NOFOLLOW_LINKS)) {
            try (Stream<Path> dirs = Files.list(runtimeDir)) {
                leftovers = dirs.filter(d -> Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
            } catch (IOException e) {
                throw new InstanceException("cannot list the runtime folders in " + runtimeDir + ": " + e.getMessage(), e);
            }
        }
        int recovered = 0;
        for (Path dir : leftovers) {
            if (survivors.recover(dir, dir.getFileName().toString()) == Survivors.Outcome.KEPT_AFTER_CRASH) {
                recovered++;
            }
        }
        // every other swtpm left (one that failed a check may be compromised) dies before its folder is removed
        Set<Integer> alive = engines.stopStrays();
        for (Path dir : leftovers) {
            if (survivors.holds(dir.getFileName().toString())) {
                continue; // a survivor's own folder: its TPM runs there
            }
            try {
                if (alive.contains((Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS))) {
                    LOG.log(System.Logger.Level.ERROR, "keeping the runtime folder {0}: a process of its owner is still alive", dir);
                    continue;
                }
                deleteTree(dir);
            } catch (IOException e) {
                throw new InstanceException("cannot remove the leftover runtime folder " + dir + ": " + e.getMessage(), e);
            }
        }
        survivors.stopUnclaimedLater();
        return recovered;
    }

    /**
     * Removes {@code dir} and what is in it, never following a symlink (a link is removed, not its
     * target). Only safe once no process of the folder's owner is alive: the walk goes by names.
     */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.deleteIfExists(dir);
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() { // does not follow links
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.deleteIfExists(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /**
     * Stops every swtpm the last daemon left that no guest took over: what {@link #recoverAfterCrash}
     * arms a timer for ({@code Survivors.UNCLAIMED_GRACE}); callable earlier, e.g. by tests.
     */
    public void stopUnclaimedSurvivors() {
        survivors.stopUnclaimed();
    }

    @Override
    public void prepare(String device, DomainId guest, Optional<String> uuid) {
        Uuid canonical;
        try {
            canonical = Uuid.parse(uuid.orElse(""));
        } catch (IllegalArgumentException e) {
            return; // activate refuses the device, naming what is wrong
        }
        if (!store.stored(canonical)) {
            spawned.drop(device); // of the uuid it named before, if any
            early.start(device, canonical, familyForNew.apply(canonical));
        } else if (!survivors.holds(canonical.value())) { // a survivor runs in the vTPM's folder: continued at connect
            // the family it was made with, most likely: a stored one of another family is spawned again at connect
            spawned.spawn(device, guest, canonical, familyForNew.apply(canonical));
        }
    }

    @Override
    public void unprepare(String device) {
        try {
            spawned.drop(device);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: stopping the swtpm spawned at InitWait failed: {1}", device, e.toString());
        }
    }

    @Override
    public ActiveInstance activate(ActivationRequest request) {
        Uuid uuid = checkedUuid(request);
        // the engine spawned at InitWait holds the uuid's lease for this very device: it is handed over with it
        Optional<EarlyEngines.Spawned> early = spawned.take(request.device(), uuid);
        InstanceLeases.Lease lease;
        try {
            lease = early.isPresent() ? early.get().lease() : leases.acquire(uuid, request.device(), handoverTimeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InstanceException(request.device() + ": interrupted while waiting for vTPM " + uuid);
        }
        try {
            return start(request, uuid, lease, early.map(EarlyEngines.Spawned::engine));
        } catch (RuntimeException e) {
            early.ifPresent(s -> s.engine().close()); // idempotent: a start that failed with it has closed it
            lease.close();
            throw e;
        }
    }

    /** The backend's uuid key, canonical; a device without one (or with garbage) is refused. */
    static Uuid checkedUuid(ActivationRequest request) {
        String uuid = request.uuid().orElseThrow(() -> new InstanceException(request.device()
                + ": the backend has no uuid key; a vTPM is identified by its uuid (xl: vtpm=[\"backend=0,uuid=...\"])"));
        try {
            return Uuid.parse(uuid);
        } catch (IllegalArgumentException e) {
            throw new InstanceException(request.device() + ": backend uuid " + e.getMessage());
        }
    }

    /**
     * Takes the vTPM in the store (in a pool: its ownership, waiting as long as the local hand-over would for another
     * host to let go), then starts it; a start that fails lets it go again.
     */
    private ActiveInstance start(ActivationRequest request, Uuid uuid, InstanceLeases.Lease lease, Optional<TpmEngine> spawned) {
        Optional<InstanceRecord> stored;
        try {
            stored = store.acquire(uuid, handoverTimeout);
        } catch (CorruptStateException | IOException e) {
            throw new InstanceException(request.device() + ": " + e.getMessage(), e);
        }
        try {
            return start(request, uuid, lease, stored, spawned);
        } catch (RuntimeException e) {
            store.release(uuid);
            throw e;
        }
    }

    /**
     * The pipeline: (taken and loaded,) decide, (manufacture,) boot the engine, store the RUNNING record, hand over.
     *
     * @param spawned the vTPM's engine spawned empty at InitWait: used by a boot or resume of the stored record (of its
     *                family); any other start closes it first, before the vTPM's folder is used again
     */
    private ActiveInstance start(ActivationRequest request, Uuid uuid, InstanceLeases.Lease lease, Optional<InstanceRecord> stored,
                                 Optional<TpmEngine> spawned) {
        StartMode.Decision decision = LifecyclePolicy.start(stored, request.resumeRequested(), request.reattach());
        LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: start mode {2}: {3}", request.device(), uuid, decision.mode(), decision.reason());
        TpmFamily family = stored.map(InstanceRecord::family).orElseGet(() -> familyForNew.apply(uuid));
        Optional<NewTpm> made = early.settle(request.device(), uuid, decision.mode(), family);
        boolean loadsSpawned = made.isEmpty() && spawned.map(TpmEngine::family).equals(stored.map(InstanceRecord::family))
                && (decision.mode() == StartMode.CLEAR || decision.mode() == StartMode.RESTORE);
        if (!loadsSpawned) {
            dropSpawned(uuid, spawned);
        }
        if (decision.mode() == StartMode.REFUSE) {
            throw new InstanceException(request.device() + ": refusing vTPM " + uuid + ": " + decision.reason());
        }
        if (made.isPresent()) {
            return firstStart(request, uuid, lease, family, made.get());
        }
        InstanceRecord from = stored.orElseThrow();
        Optional<byte[]> volatileState = decision.mode() == StartMode.RESTORE
                ? Optional.of(from.snapshot().orElseThrow().volatileState()) : Optional.empty();
        StateBlobs blobs = new StateBlobs(from.permanent(), volatileState);
        Optional<TpmEngine> continued = survivors.continueFor(request.device(), uuid, request.frontendDomid(), decision.mode(), from);
        if (continued.isPresent()) {
            dropSpawned(uuid, spawned); // none: prepare spawns nothing for a uuid whose survivor is held
        }
        TpmEngine engine = continued.isPresent() ? continued.get()
                : decision.mode() == StartMode.CLEAR_UNDER_RUNNING_GUEST
                ? boot.startUnderRunningGuest(uuid.value(), request.frontendDomid(), from.family(), from.permanent())
                : loadsSpawned ? loadSpawned(request, uuid, spawned.get(), blobs)
                : boot.start(uuid.value(), request.frontendDomid(), from.family(), blobs);
        return running(request, lease, decision.mode(), from, engine);
    }

    /** Stops the engine spawned at InitWait that this start does not use, and removes its folder (it never had state). */
    private void dropSpawned(Uuid uuid, Optional<TpmEngine> spawned) {
        spawned.ifPresent(engine -> this.spawned.discard(uuid, engine));
    }

    /** Loads {@code blobs} into the engine spawned at InitWait. */
    private TpmEngine loadSpawned(ActivationRequest request, Uuid uuid, TpmEngine spawned, StateBlobs blobs) {
        TpmEngine engine = boot.start(spawned, blobs);
        LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: state loaded into its swtpm spawned at InitWait", request.device(), uuid);
        return engine;
    }

    /**
     * A first start (MANUFACTURE): the new TPM is stored (end NEW), then booted. A ready-made one from the pool is
     * booted first, its uuid bound in it (the EK certificate), and stored as it is then: one engine, not a
     * second one to bind it. A crash before the store costs the pool entry (already taken), never the vTPM.
     */
    private ActiveInstance firstStart(ActivationRequest request, Uuid uuid, InstanceLeases.Lease lease, TpmFamily family, NewTpm made) {
        DomainId guest = request.frontendDomid();
        if (made.entry().isEmpty()) {
            InstanceRecord from = storeNew(request, uuid, family, made.permanent());
            return running(request, lease, StartMode.MANUFACTURE, from, boot.start(uuid.value(), guest, family,
                    new StateBlobs(from.permanent(), Optional.empty())));
        }
        long t0 = System.nanoTime();
        TpmEngine engine = boot.start(uuid.value(), guest, family, new StateBlobs(made.permanent(), Optional.empty()));
        try {
            ManufacturePool p = pool.orElseThrow();
            p.bind(engine, uuid);
            InstanceRecord from = storeNew(request, uuid, family, engine.saveState(false).permanent());
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: from the pool of ready-made TPMs ({1} entry {2}): started, bound and"
                    + " stored in {3} ms; pool: {4}", uuid, family, made.entry().get().id(), EarlyManufacture.millisSince(t0),
                    p.describe());
            return running(request, lease, StartMode.MANUFACTURE, from, engine);
        } catch (RuntimeException e) {
            engine.close();
            EngineBoot.removeFolder(boot.folderOf(uuid.value())); // its plaintext state, of a TPM nobody will have
            throw e;
        }
    }

    /** Stores {@code from} as RUNNING and hands {@code engine} over to the device; closes the engine on failure. */
    private ActiveInstance running(ActivationRequest request, InstanceLeases.Lease lease, StartMode mode, InstanceRecord from,
                                   TpmEngine engine) {
        try {
            InstanceRecord running = from.withSave(from.generation() + 1, EndKind.RUNNING, from.permanent(), Optional.empty());
            services.commit(running); // the snapshot is consumed: it can never be resumed again
            return new PersistentActiveInstance(services, request.device(), request.frontendDomid(), running, engine, lease, mode);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    /**
     * Stores a newly manufactured vTPM (end NEW) and returns its record; refused if the uuid was stored meanwhile
     * by another process ({@code vtpmback create} or {@code import}): that vTPM is never replaced.
     */
    private InstanceRecord storeNew(ActivationRequest request, Uuid uuid, TpmFamily family, byte[] permanent) {
        InstanceRecord made;
        try {
            made = store.create(uuid, family, permanent);
        } catch (AlreadyStoredException e) {
            throw new InstanceException(request.device() + ": " + e.getMessage() + ": it was stored while this first start"
                    + " manufactured one ('vtpmback create' or 'import' at the same time?); the TPM made here is dropped,"
                    + " and the guest's next start uses the stored vTPM", e);
        } catch (IOException e) {
            throw new InstanceException(request.device() + ": cannot store the new vTPM " + uuid + " in " + store.where(uuid)
                    + ": " + e.getMessage(), e);
        }
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: manufactured ({1}), stored in {2}", uuid, family, store.where(uuid));
        return made;
    }

    public VtpmStore store() {
        return store;
    }
}
