package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.function.Function;
import org.apache.commons.io.file.PathUtils;
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
    private final Function<String, TpmFamily> familyForNew;
    private final Manufacturer manufacturer;
    private final DomainStatus domains;
    private final InstanceLeases leases = new InstanceLeases();
    private final Duration handoverTimeout;

    public PersistentInstances(InstanceStore store, EngineFactory engines, Path runtimeDir, Function<String, TpmFamily> familyForNew,
                               Manufacturer manufacturer, DomainStatus domains, Duration handoverTimeout) {
        this.store = store;
        this.engines = engines;
        this.runtimeDir = runtimeDir;
        this.familyForNew = familyForNew;
        this.manufacturer = manufacturer;
        this.domains = domains;
        this.handoverTimeout = handoverTimeout;
    }

    @Override
    public ActiveInstance activate(ActivationRequest request) {
        String uuid = checkedUuid(request);
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
    static String checkedUuid(ActivationRequest request) {
        String uuid = request.uuid().orElseThrow(() -> new InstanceException(request.device()
                + ": the backend has no uuid key; a vTPM is identified by its uuid (xl: vtpm=[\"backend=0,uuid=...\"])"));
        try {
            return InstanceStore.canonicalUuid(uuid);
        } catch (IllegalArgumentException e) {
            throw new InstanceException(request.device() + ": backend uuid " + e.getMessage());
        }
    }

    private ActiveInstance start(ActivationRequest request, String uuid) {
        Optional<InstanceRecord> stored;
        try {
            stored = store.load(uuid);
        } catch (CorruptStateException e) {
            throw new InstanceException(request.device() + ": " + e.getMessage());
        }
        StartMode.Decision decision = StartMode.decide(stored, request.resumeRequested(), request.reattach());
        LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: start mode {2}: {3}", request.device(), uuid, decision.mode(), decision.reason());
        if (decision.mode() == StartMode.REFUSE) {
            throw new InstanceException(request.device() + ": refusing vTPM " + uuid + ": " + decision.reason());
        }
        TpmFamily family = stored.map(InstanceRecord::family).orElseGet(() -> familyForNew.apply(uuid));
        Path dir = freshRuntimeDir(uuid);
        TpmEngine engine = engines.create("vtpm-" + uuid.substring(0, 8) + "-d" + request.frontendDomid(), family, dir);
        try {
            InstanceRecord record = switch (decision.mode()) {
                case MANUFACTURE -> manufacture(engine, uuid, family);
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

    private InstanceRecord manufacture(TpmEngine engine, String uuid, TpmFamily family) {
        engine.initClear();
        startup(engine);
        manufacturer.manufacture(engine, uuid);
        engine.shutdownOrderly();
        InstanceRecord made = new InstanceRecord(uuid, family, Instant.now(), 1, EndKind.NEW,
                engine.saveState(false).permanent(), Optional.empty());
        save(made);
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: manufactured ({1}), stored in {2}", uuid, family, store.fileOf(uuid));
        engine.initClear();
        startup(engine);
        return made;
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

    private Path freshRuntimeDir(String uuid) {
        Path dir = runtimeDir.resolve(uuid);
        try {
            AtomicFiles.createPrivateDirectory(runtimeDir);
            if (java.nio.file.Files.exists(dir)) {
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

    void release(String uuid, String holder, Path dir) {
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
