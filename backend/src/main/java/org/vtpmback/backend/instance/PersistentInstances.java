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
import org.vtpmback.backend.engine.TpmFamily;
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
 *
 * <p>This is the facade: it owns the parts (leases, InitWait engines, early manufacture, survivors, the pool) and
 * the daemon-wide work (crash recovery, background work, the store's life); once {@link #activate} holds a lease,
 * the start itself is {@link ActivationPipeline}'s.
 */
public final class PersistentInstances implements VtpmInstances {
    private static final System.Logger LOG = System.getLogger(PersistentInstances.class.getName());

    private final VtpmStore store;
    private final EngineFactory engines;
    private final Path runtimeDir;
    private final Function<Uuid, TpmFamily> familyForNew;
    private final InstanceLeases leases = new InstanceLeases();
    /** Existing vTPMs' engines spawned at InitWait, under {@link #leases}. */
    private final EarlyEngines spawned;
    private final Duration handoverTimeout;
    private final EarlyManufacture early;
    private final Survivors survivors;
    private final Optional<ManufacturePool> pool;
    private final ActivationPipeline pipeline;

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
        EngineBoot boot = new EngineBoot(engines, runtimeDir);
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
        InstanceServices services = new InstanceServices(store, boot, domains);
        this.survivors = new Survivors(engines, services);
        this.pipeline = new ActivationPipeline(store, boot, familyForNew, handoverTimeout, early, spawned, survivors, services,
                this.pool);
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

    /** Ends the early manufactures first (no device waits for one now: see {@link EarlyManufacture#close}). */
    @Override
    public void closeStore() {
        early.close();
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
            return pipeline.start(request, uuid, lease, early.map(EarlyEngines.Spawned::engine));
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

    public VtpmStore store() {
        return store;
    }
}
