package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.commons.io.file.PathUtils;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AtomicFiles;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.StartMode;
import org.vtpmback.backend.state.Uuid;

/**
 * vTPM instances kept in the encrypted {@link InstanceStore}, started as {@link StartMode} decides.
 *
 * <p>Where swtpm's own files live: in a per-uuid folder under the runtime directory (a tmpfs,
 * {@code /run/vtpmback}, mode 0700), filled from the store at start through swtpm's state blobs and
 * copied back into the store (sealed) whenever the permanent state changes and at teardown. So nothing
 * of a vTPM ever reaches a disk in plaintext, integrity is ours (AES-GCM, one atomic file per instance)
 * rather than swtpm's, and the whole instance commits in one rename.
 */
public final class PersistentInstances implements VtpmInstances {
    private static final System.Logger LOG = System.getLogger(PersistentInstances.class.getName());

    private final InstanceStore store;
    private final EngineFactory engines;
    private final Path runtimeDir;
    private final Function<Uuid, TpmFamily> familyForNew;
    private final Manufacturer manufacturer;
    private final DomainStatus domains;
    private final InstanceLeases leases = new InstanceLeases();
    private final Duration handoverTimeout;
    private final EarlyManufacture early;

    public PersistentInstances(InstanceStore store, EngineFactory engines, Path runtimeDir, Function<Uuid, TpmFamily> familyForNew,
                               Manufacturer manufacturer, DomainStatus domains, Duration handoverTimeout) {
        this.store = store;
        this.engines = engines;
        this.runtimeDir = runtimeDir;
        this.familyForNew = familyForNew;
        this.manufacturer = manufacturer;
        this.domains = domains;
        this.handoverTimeout = handoverTimeout;
        this.early = new EarlyManufacture(engines, manufacturer, runtimeDir);
    }

    /**
     * After a daemon crash the swtpm processes of the running guests live on (the daemon does not take
     * them down with it, and the systemd unit leaves them running). Their TPMs hold state that no
     * store has: the guests' PCRs, sessions and loaded objects. For each one, this keeps that state as
     * a {@link EndKind#DAEMON_CRASHED} snapshot, so the re-attach resumes it exactly as after a clean
     * stop, then stops the swtpm and removes every runtime folder left over. Call it once, before the
     * daemon serves any device.
     *
     * @return how many vTPMs were taken over with their running state
     */
    public int recoverAfterCrash() {
        if (!Files.isDirectory(runtimeDir)) {
            return 0;
        }
        List<Path> leftovers;
        try (Stream<Path> dirs = Files.list(runtimeDir)) {
            leftovers = dirs.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new InstanceException("cannot list the runtime folders in " + runtimeDir + ": " + e.getMessage(), e);
        }
        int recovered = 0;
        for (Path dir : leftovers) {
            if (recoverOne(dir)) {
                recovered++;
            }
            try {
                PathUtils.deleteDirectory(dir);
            } catch (IOException e) {
                throw new InstanceException("cannot remove the leftover runtime folder " + dir + ": " + e.getMessage(), e);
            }
        }
        return recovered;
    }

    private boolean recoverOne(Path dir) {
        String name = dir.getFileName().toString();
        Optional<StateBlobs> running;
        try {
            running = engines.takeOverSurvivor(dir);
        } catch (EngineException e) {
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: the swtpm that outlived the last daemon was lost: {1}; the"
                    + " vTPM keeps its last stored state, its guest's TPM will restart with PCRs reset", name, e.getMessage());
            return false;
        }
        if (running.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: removing the runtime folder {1} left by the last daemon (no running"
                    + " TPM there)", name, dir);
            return false;
        }
        Optional<InstanceRecord> stored;
        try {
            stored = store.load(Uuid.parse(name));
        } catch (CorruptStateException | IllegalArgumentException e) {
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: not keeping the survivor''s state: {1}", name, e.getMessage());
            return false;
        }
        if (stored.isEmpty()) {
            // the daemon died while manufacturing it: the next start manufactures it again
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: a swtpm survived but nothing is stored for it; discarded", name);
            return false;
        }
        StateBlobs blobs = running.get();
        InstanceRecord last = stored.get();
        InstanceRecord recovered = last.withSave(last.generation() + 1, EndKind.DAEMON_CRASHED, blobs.permanent(),
                Optional.of(new InstanceRecord.Snapshot(EndKind.DAEMON_CRASHED, blobs.volatileState().orElseThrow())));
        save(recovered);
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: kept the running state of the swtpm that outlived the last daemon as a"
                + " snapshot for the re-attach (generation {1})", name, recovered.generation());
        return true;
    }

    @Override
    public void prepare(String device, Optional<String> uuid) {
        Uuid canonical;
        try {
            canonical = Uuid.parse(uuid.orElse(""));
        } catch (IllegalArgumentException e) {
            return; // activate refuses the device, naming what is wrong
        }
        if (!Files.exists(store.fileOf(canonical))) {
            early.start(device, canonical, familyForNew.apply(canonical));
        }
    }

    @Override
    public ActiveInstance activate(ActivationRequest request) {
        Uuid uuid = checkedUuid(request);
        try {
            leases.acquire(uuid, request.device(), handoverTimeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InstanceException(request.device() + ": interrupted while waiting for vTPM " + uuid);
        }
        try {
            return start(request, uuid);
        } catch (RuntimeException e) {
            leases.release(uuid, request.device());
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

    private ActiveInstance start(ActivationRequest request, Uuid uuid) {
        Optional<InstanceRecord> stored;
        try {
            stored = store.load(uuid);
        } catch (CorruptStateException e) {
            throw new InstanceException(request.device() + ": " + e.getMessage());
        }
        StartMode.Decision decision = StartMode.decide(stored, request.resumeRequested(), request.reattach());
        LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: start mode {2}: {3}", request.device(), uuid, decision.mode(), decision.reason());
        if (decision.mode() != StartMode.MANUFACTURE) {
            early.discard(uuid);
        }
        if (decision.mode() == StartMode.REFUSE) {
            throw new InstanceException(request.device() + ": refusing vTPM " + uuid + ": " + decision.reason());
        }
        TpmFamily family = stored.map(InstanceRecord::family).orElseGet(() -> familyForNew.apply(uuid));
        Path dir = freshRuntimeDir(uuid);
        TpmEngine engine = engines.create("vtpm-" + uuid.shortForm() + "-d" + request.frontendDomid(), family, dir);
        try {
            InstanceRecord record = switch (decision.mode()) {
                case MANUFACTURE -> manufacture(request, engine, uuid, family);
                case RESTORE -> restore(engine, stored.get());
                default -> clearStart(engine, stored.get());
            };
            InstanceRecord running = record.withSave(record.generation() + 1, EndKind.RUNNING, record.permanent(), Optional.empty());
            save(running); // the snapshot is consumed: a later crash must not resume it again
            return new PersistentActiveInstance(this, request, running, engine, dir);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    private InstanceRecord manufacture(ActivationRequest request, TpmEngine engine, Uuid uuid, TpmFamily family) {
        byte[] permanent = early.take(request.device(), uuid)
                .orElseGet(() -> EarlyManufacture.manufacture(engine, manufacturer, uuid));
        InstanceRecord made = new InstanceRecord(uuid, family, Instant.now(), 1, EndKind.NEW, permanent, Optional.empty());
        save(made);
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: manufactured ({1}), stored in {2}", uuid, family, store.fileOf(uuid));
        return clearStart(engine, made);
    }

    private static InstanceRecord restore(TpmEngine engine, InstanceRecord stored) {
        InstanceRecord.Snapshot snapshot = stored.snapshot().orElseThrow();
        // INIT(DELETE_VOLATILE) and no Startup: PCRs and loaded objects continue exactly (swtpm flow b).
        engine.restoreState(new StateBlobs(stored.permanent(), Optional.of(snapshot.volatileState())));
        return stored;
    }

    private static InstanceRecord clearStart(TpmEngine engine, InstanceRecord stored) {
        // Permanent state only, so no volatile file can turn this boot into a resume (swtpm trap 3).
        engine.restoreState(new StateBlobs(stored.permanent(), Optional.empty()));
        startup(engine);
        return stored;
    }

    /** Linux xen-tpmfront never sends TPM2_Startup (and 1.2's only on a fallback): the backend does. */
    static void startup(TpmEngine engine) {
        int rc = engine.sendStartupClear();
        if (rc != 0) {
            throw new InstanceException("TPM Startup(CLEAR) failed with TPM rc 0x" + Integer.toHexString(rc));
        }
    }

    private Path freshRuntimeDir(Uuid uuid) {
        Path dir = runtimeDir.resolve(uuid.value());
        try {
            AtomicFiles.createPrivateDirectory(runtimeDir);
            if (Files.exists(dir)) {
                PathUtils.deleteDirectory(dir); // leftovers of a crashed daemon: the store is the truth
            }
            return AtomicFiles.createPrivateDirectory(dir);
        } catch (IOException e) {
            throw new InstanceException("cannot prepare runtime folder " + dir + ": " + e.getMessage(), e);
        }
    }

    void save(InstanceRecord record) {
        try {
            store.save(record);
        } catch (IOException e) {
            throw new InstanceException("cannot save vTPM " + record.uuid() + " to " + store.fileOf(record.uuid()) + ": " + e.getMessage(), e);
        }
    }

    EngineFactory engines() {
        return engines;
    }

    DomainStatus domains() {
        return domains;
    }

    void release(Uuid uuid, String holder, Path dir) {
        try {
            PathUtils.deleteDirectory(dir);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove runtime folder {0}: {1}", dir, e.getMessage());
        } finally {
            leases.release(uuid, holder);
        }
    }

    public InstanceStore store() {
        return store;
    }
}
