package org.vtpmback.backend.instance;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;
import org.vtpmback.backend.engine.EngineBoot;
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
 * The start of one vTPM for one device, once its lease is held: take and load its record, let
 * {@link LifecyclePolicy#start} decide, settle the early manufacture, boot (or continue, or load) the engine, commit
 * the RUNNING record and hand a {@link PersistentActiveInstance} over.
 *
 * <p>Why a class of its own: {@link PersistentInstances} is the daemon's facade over the instances (InitWait engines,
 * crash recovery, the pool, the store's life); this is the one path from a request to a running vTPM, with every
 * failure undoing what it took. It only flows forward: it is handed the parts it needs and never calls its owner.
 */
final class ActivationPipeline {
    private static final System.Logger LOG = System.getLogger(ActivationPipeline.class.getName());

    private final VtpmStore store;
    private final EngineBoot boot;
    private final Function<Uuid, TpmFamily> familyForNew;
    private final Duration handoverTimeout;
    private final EarlyManufacture early;
    /** Existing vTPMs' engines spawned at InitWait: one this start does not use is discarded through them. */
    private final EarlyEngines spawned;
    private final Survivors survivors;
    private final InstanceServices services;
    private final Optional<ManufacturePool> pool;

    ActivationPipeline(VtpmStore store, EngineBoot boot, Function<Uuid, TpmFamily> familyForNew, Duration handoverTimeout,
                       EarlyManufacture early, EarlyEngines spawned, Survivors survivors, InstanceServices services,
                       Optional<ManufacturePool> pool) {
        this.store = store;
        this.boot = boot;
        this.familyForNew = familyForNew;
        this.handoverTimeout = handoverTimeout;
        this.early = early;
        this.spawned = spawned;
        this.survivors = survivors;
        this.services = services;
        this.pool = pool;
    }

    /**
     * Takes the vTPM in the store (in a pool: its ownership, waiting as long as the local hand-over would for another
     * host to let go), then starts it; a start that fails lets it go again.
     */
    ActiveInstance start(ActivationRequest request, Uuid uuid, InstanceLeases.Lease lease, Optional<TpmEngine> spawned) {
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
            throw new InstanceException(request.device() + ": refusing vTPM " + uuid + " (" + storedAs(uuid, stored) + "): "
                    + decision.reason());
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

    /**
     * Where the refused vTPM's record is and which generation it holds, for the operator: after a host power cut a
     * restore is refused when the RUNNING record that consumed its snapshot was durable and the guest never connected.
     */
    private String storedAs(Uuid uuid, Optional<InstanceRecord> stored) {
        return stored.map(r -> "stored record " + store.where(uuid) + ", generation " + r.generation())
                .orElseGet(() -> "nothing stored at " + store.where(uuid));
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
}
