package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import java.util.Optional;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.xen.ShutdownReason;

/**
 * A running vTPM of {@link PersistentInstances}: checkpoints permanent state when swtpm changes it,
 * and at teardown keeps what the domain's fate calls for. Confined to the owning device's executor.
 */
final class PersistentActiveInstance implements ActiveInstance {
    private static final System.Logger LOG = System.getLogger(PersistentActiveInstance.class.getName());

    private final PersistentInstances owner;
    private final ActivationRequest request;
    private final Path dir;
    private final Path permanentFile;
    private InstanceRecord record;
    private TpmEngine engine;
    private Object permanentStamp;
    private boolean released;

    PersistentActiveInstance(PersistentInstances owner, ActivationRequest request, InstanceRecord record, TpmEngine engine, Path dir) {
        this.owner = owner;
        this.request = request;
        this.record = record;
        this.engine = engine;
        this.dir = dir;
        // swtpm rewrites <prefix>.permall whenever permanent state changes (NV, keys, DA counters).
        this.permanentFile = dir.resolve(engine.family() == org.vtpmback.backend.engine.TpmFamily.TPM2 ? "tpm2-00.permall" : "tpm-00.permall");
        this.permanentStamp = stamp();
    }

    @Override
    public TpmEngine engine() {
        return engine;
    }

    @Override
    public TpmEngine restartEngine() {
        engine.close();
        LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: restarting the engine from the last saved permanent state (generation {2})",
                request.device(), record.uuid(), record.generation());
        engine = owner.engines().create("vtpm-" + record.uuid().shortForm() + "-d" + request.frontendDomid(), record.family(), dir);
        engine.restoreState(new StateBlobs(record.permanent(), Optional.empty()));
        PersistentInstances.startup(engine);
        permanentStamp = stamp();
        return engine;
    }

    @Override
    public void afterCommand() {
        Object now = stamp();
        if (!Objects.equals(now, permanentStamp) && engine.isAlive()) {
            save(EndKind.RUNNING, engine.saveState(false), Optional.empty());
            // Only once it is durable: a failed save leaves the change pending, and the next call retries it.
            permanentStamp = now;
        }
    }

    @Override
    public void deactivate(Teardown why) {
        if (released) {
            return;
        }
        released = true;
        try {
            if (!engine.isAlive()) {
                LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: engine dead at teardown; keeping generation {2}",
                        request.device(), record.uuid(), record.generation());
            } else {
                saveFor(why);
            }
        } finally {
            engine.close();
            owner.release(record.uuid(), request.device(), dir);
        }
    }

    private void saveFor(Teardown why) {
        switch (why) {
            case DAEMON_STOP -> saveWithSnapshot(EndKind.DAEMON_STOPPED);
            case ENGINE_FAILED -> { }
            case DEVICE_REMOVED, DEVICE_REMOVED_AFTER_CLOSE -> {
                // libxl removes the devices of a shut-down domain while it still exists; with the
                // frontend closed first (guest shutdown) the domain may already be gone when asked.
                Optional<ShutdownReason> reason = owner.domains().shutdownReason(request.frontendDomid());
                EndKind end = reason.map(PersistentActiveInstance::endOf)
                        .orElse(why == Teardown.DEVICE_REMOVED_AFTER_CLOSE ? EndKind.SHUTDOWN : EndKind.DESTROYED);
                LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: domain {2} ended with {3}: saving as {4}", request.device(),
                        record.uuid(), request.frontendDomid(), reason.map(Enum::name).orElse("no shutdown (destroyed)"), end);
                if (end == EndKind.SUSPENDED) {
                    saveWithSnapshot(end);
                } else {
                    if (end == EndKind.SHUTDOWN) {
                        // An orderly TPM shutdown keeps guest reboots from counting as dictionary-attack
                        // failures (swtpm trap 5). Crashes and destroys stay hard resets, as on hardware.
                        engine.shutdownOrderly();
                    }
                    save(end, engine.saveState(false), Optional.empty());
                }
            }
            default -> throw new IllegalStateException("unknown teardown " + why);
        }
    }

    private static EndKind endOf(ShutdownReason reason) {
        return switch (reason) {
            case SUSPEND -> EndKind.SUSPENDED;
            case POWEROFF, REBOOT, SOFT_RESET -> EndKind.SHUTDOWN;
            default -> EndKind.DESTROYED;
        };
    }

    private void saveWithSnapshot(EndKind end) {
        StateBlobs blobs = engine.saveState(true);
        save(end, blobs, blobs.volatileState().map(v -> new InstanceRecord.Snapshot(end, v)));
    }

    private void save(EndKind end, StateBlobs blobs, Optional<InstanceRecord.Snapshot> snapshot) {
        InstanceRecord next = record.withSave(record.generation() + 1, end, blobs.permanent(), snapshot);
        owner.save(next);
        record = next;
        LOG.log(System.Logger.Level.DEBUG, "{0}: saved {1}", request.device(), next);
    }

    private Object stamp() {
        try {
            BasicFileAttributes a = Files.readAttributes(permanentFile, BasicFileAttributes.class);
            return a.lastModifiedTime().toString() + "/" + a.size() + "/" + a.fileKey();
        } catch (IOException e) {
            return null; // not written yet
        }
    }
}
