package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import java.util.Optional;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.VtpmStore;
import org.vtpmback.xen.DomainId;
import org.vtpmback.xen.ShutdownReason;

/**
 * A running vTPM: checkpoints permanent state when swtpm changes it, and at teardown keeps what
 * {@link LifecyclePolicy#ending} says the domain's fate calls for. It is handed everything it uses (the
 * store, the engine boot step, the domain status, its runtime folder and its lease) and never calls back
 * into {@link PersistentInstances}. Confined to the owning device's executor.
 */
final class PersistentActiveInstance implements ActiveInstance {
    private static final System.Logger LOG = System.getLogger(PersistentActiveInstance.class.getName());

    private final InstanceServices services;
    private final String device;
    private final DomainId guest;
    private final Path dir;
    private final Path permanentFile;
    private final InstanceLeases.Lease lease;
    /** Written on the device's executor; volatile for {@link #status()}, which any thread may call. */
    private volatile InstanceRecord record;
    private volatile TpmEngine engine;
    private final StartMode startMode;
    private Object permanentStamp;
    /** A permanent-state change whose save failed; cleared by a successful save or a restart (the change died with swtpm). */
    private boolean savePending;
    private boolean released;
    /** Why this host may no longer write the vTPM (another host took it over); null while it may. Final once set. */
    private volatile String fencedWhy;
    /** The teardown's last save also let the vTPM go in the store ({@link VtpmStore#saveAndRelease}). */
    private boolean releasedInStore;

    /**
     * @param running the record as stored for this incarnation (end RUNNING)
     * @param engine  the engine started on it; owned from now on
     * @param lease   the uuid's lease; released at teardown
     * @param startMode how this incarnation started, for status output
     */
    PersistentActiveInstance(InstanceServices services, String device, DomainId guest, InstanceRecord running, TpmEngine engine,
                             InstanceLeases.Lease lease, StartMode startMode) {
        this.startMode = startMode;
        this.services = services;
        this.device = device;
        this.guest = guest;
        this.record = running;
        this.engine = engine;
        this.dir = services.boot().folderOf(running.uuid().value());
        this.lease = lease;
        this.permanentFile = EngineBoot.permanentStateFile(engine.family(), dir);
        this.permanentStamp = stamp();
    }

    @Override
    public org.vtpmback.backend.state.Uuid uuid() {
        return record.uuid();
    }

    @Override
    public InstanceStatus status() {
        InstanceRecord r = record;
        TpmEngine e = engine;
        return new InstanceStatus(r.uuid(), r.family(), startMode, r.generation(), e.processId(),
                Optional.ofNullable(fencedWhy).map(f -> "FENCED: " + f).or(() -> services.store().problem(r.uuid())));
    }

    @Override
    public TpmEngine engine() {
        return engine;
    }

    @Override
    public TpmEngine restartEngine() {
        engine.close();
        savePending = false; // an unsaved change died with the old swtpm; the guest was told its command failed
        LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: restarting the engine from the last saved permanent state (generation {2})",
                device, record.uuid(), record.generation());
        engine = services.boot().startUnderRunningGuest(record.uuid().value(), guest, record.family(), record.permanent());
        permanentStamp = stamp();
        return engine;
    }

    @Override
    public void afterCommand() {
        Object now = stamp();
        if (!Objects.equals(now, permanentStamp)) {
            if (!engine.isAlive()) {
                // Its change is in a file of a dead swtpm, not in the store: never report it saved.
                throw new InstanceException("vTPM " + record.uuid() + ": the permanent state changed but swtpm died"
                        + " before it was saved");
            }
            savePending = true;
            InstanceRecord next = record.withSave(record.generation() + 1, EndKind.RUNNING, engine.saveState(false).permanent(),
                    Optional.empty());
            try {
                services.checkpoint(next); // one fdatasync of the commit log, shared with other vTPMs' checkpoints
            } catch (InstanceServices.FencedInstanceException f) {
                fence(f.getMessage());
                throw f;
            }
            record = next;
            LOG.log(System.Logger.Level.DEBUG, "{0}: checkpointed {1}", device, next);
            // Only once it is durable: a failed save leaves the change pending, and the next call retries it.
            permanentStamp = now;
        }
        savePending = false;
    }

    @Override
    public boolean checkpointNeeded() {
        return savePending || !Objects.equals(stamp(), permanentStamp);
    }

    @Override
    public boolean savePending() {
        return savePending;
    }

    /**
     * Why this host may no longer write the vTPM, if so: a write of it was refused, or the store fenced it (this
     * host's lease in the pool was lost). Asked before every command: the guest then gets TPM failures, and the
     * device is failed with its reason in the error node ({@code SaveGate}).
     */
    @Override
    public Optional<String> fenced() {
        String why = fencedWhy;
        if (why != null) {
            return Optional.of(why);
        }
        Optional<String> byStore = services.store().fenced(record.uuid());
        byStore.ifPresent(this::fence);
        return byStore;
    }

    /** Marks the vTPM fenced, with the one loud line an operator must see (which guest, which host, who owns it now). */
    private synchronized void fence(String why) {
        if (fencedWhy != null) {
            return;
        }
        fencedWhy = why;
        LOG.log(System.Logger.Level.ERROR, "FENCED {0}: domain {1}: vTPM {2}: {3}. Its guest gets TPM failures from now on,"
                + " and this host never writes this vTPM again", device, guest, record.uuid(), why);
    }

    @Override
    public void deactivate(Teardown why, Runnable endingKnown) {
        if (released) {
            return;
        }
        released = true;
        try {
            if (fenced().isPresent()) {
                LOG.log(System.Logger.Level.ERROR, "{0}: vTPM {1}: fenced: nothing saved at teardown ({2}); its record is"
                        + " its owner''s", device, record.uuid(), why);
            } else if (!engine.isAlive()) {
                LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: engine dead at teardown; keeping generation {2}",
                        device, record.uuid(), record.generation());
            } else {
                keep(why, endingKnown);
            }
        } finally {
            releaseInStore(why);
            // Even when the save failed: the next daemon then takes the running state from the swtpm.
            if (LifecyclePolicy.leavesEngineRunning(why) && engine.isAlive()) {
                engine.detach(); // its folder stays: the swtpm runs there
                lease.close();
            } else {
                engine.close();
                try {
                    EngineBoot.removeFolder(dir);
                } finally {
                    lease.close();
                }
            }
        }
    }

    private void keep(Teardown why, Runnable endingKnown) {
        Optional<ShutdownReason> reason = LifecyclePolicy.needsShutdownReason(why)
                ? services.domains().shutdownReason(guest) : Optional.empty();
        endingKnown.run();
        LifecyclePolicy.Ending ending = LifecyclePolicy.ending(why, reason);
        if (LifecyclePolicy.needsShutdownReason(why)) {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: domain {2} ended with {3}: saving as {4}", device, record.uuid(), guest,
                    reason.map(Enum::name).orElse("no shutdown (destroyed)"), ending.save().map(Enum::name).orElse("nothing"));
        }
        if (ending.save().isEmpty()) {
            return;
        }
        EndKind end = ending.save().get();
        if (ending.orderlyShutdown()) {
            engine.shutdownOrderly();
        }
        StateBlobs blobs = engine.saveState(ending.snapshot());
        Optional<InstanceRecord.Snapshot> snapshot = ending.snapshot()
                ? blobs.volatileState().map(v -> new InstanceRecord.Snapshot(end, v)) : Optional.empty();
        InstanceRecord next = record.withSave(record.generation() + 1, end, blobs.permanent(), snapshot);
        try {
            if (LifecyclePolicy.leavesEngineRunning(why)) {
                services.commit(next); // still this host's: the next daemon re-attaches
            } else {
                services.commitAndRelease(next); // a suspend's snapshot and the release in one step: the resume reads it
                releasedInStore = true;
            }
        } catch (InstanceServices.FencedInstanceException f) {
            fence(f.getMessage());
            throw f;
        }
        record = next;
        LOG.log(System.Logger.Level.DEBUG, "{0}: saved {1}", device, next);
    }

    /** A teardown that ends this host's use of the vTPM lets it go in the store, unless its last save did already. */
    private void releaseInStore(Teardown why) {
        if (!releasedInStore && fencedWhy == null && !LifecyclePolicy.leavesEngineRunning(why)) {
            services.store().release(record.uuid());
        }
    }

    /**
     * What tells that swtpm rewrote its permanent-state file (a write and a rename: a new inode), asked after
     * every command: one stat, compared field by field (formatting the time as text cost more than the stat).
     */
    private Object stamp() {
        try {
            BasicFileAttributes a = Files.readAttributes(permanentFile, BasicFileAttributes.class);
            return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
        } catch (IOException e) {
            return null; // not written yet
        }
    }

    private record Stamp(java.nio.file.attribute.FileTime modified, long size, Object fileKey) {
    }
}
