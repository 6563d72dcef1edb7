package org.vtpmback.backend.instance;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.SurvivingEngine;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.DomainId;

/**
 * The swtpm processes the last daemon left running under running guests: after a stop, which
 * leaves them on purpose (with a {@link EndKind#DAEMON_STOPPED} snapshot), and after a crash (their
 * running state is then stored first as a {@link EndKind#DAEMON_CRASHED} snapshot). Each one is held
 * until its guest re-attaches, and then taken over as it runs: the guest's TPM continues without a
 * restart or a restore, so a daemon restart costs a guest only the time the daemon takes to start.
 * The snapshot is the fallback whenever a take-over cannot happen (the swtpm died, the guest booted
 * meanwhile, nobody re-attached within {@link #UNCLAIMED_GRACE}). Thread-safe.
 */
final class Survivors {
    private static final System.Logger LOG = System.getLogger(Survivors.class.getName());
    /**
     * How long a survivor waits for its guest. Its backend is re-attached right after the startup
     * scan normally (seconds; under software emulation about a minute); one still unclaimed after
     * this belongs to a domain that went away while no daemon ran, and only costs memory.
     */
    static final Duration UNCLAIMED_GRACE = Duration.ofMinutes(5);

    private final EngineFactory engines;
    private final InstanceServices services;
    private final Map<Uuid, SurvivingEngine> held = new ConcurrentHashMap<>();

    Survivors(EngineFactory engines, InstanceServices services) {
        this.engines = engines;
        this.services = services;
    }

    /** What {@link #recover} did with one runtime folder. */
    enum Outcome {
        /** Nothing (alive) there. */
        NONE,
        /** A survivor of a clean stop, held. */
        KEPT_AFTER_STOP,
        /** A survivor of a crash: its running state stored as a snapshot, and held. */
        KEPT_AFTER_CRASH
    }

    /** Looks for the survivor in the runtime folder {@code dir} of vTPM {@code name} and holds it if it is worth keeping. */
    Outcome recover(Path dir, String name) {
        Optional<SurvivingEngine> found;
        try {
            found = engines.survivor(dir);
        } catch (EngineException e) {
            return lost(name, e);
        }
        if (found.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: removing the runtime folder {1} left by the last daemon (no running"
                    + " TPM there)", name, dir);
            return Outcome.NONE;
        }
        SurvivingEngine live = found.get();
        Uuid uuid;
        Optional<InstanceRecord> stored;
        try {
            uuid = Uuid.parse(name);
            // in a pool the vTPM must still be this host's: another host may have taken it over while no daemon ran here
            stored = services.store().acquire(uuid, java.time.Duration.ZERO);
        } catch (CorruptStateException | java.io.IOException | IllegalArgumentException e) {
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: not keeping the survivor''s state: {1}", name, e.getMessage());
            live.stop();
            return Outcome.NONE;
        }
        if (stored.isEmpty()) {
            // the daemon died while manufacturing it, or the vTPM was deleted: nothing to continue
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: a swtpm survived but nothing is stored for it; discarded", name);
            live.stop();
            return Outcome.NONE;
        }
        Path stateFile = EngineBoot.permanentStateFile(stored.get().family(), dir);
        if (!Files.isRegularFile(stateFile, LinkOption.NOFOLLOW_LINKS)) {
            // never INITed: a swtpm spawned empty at InitWait (EarlyEngines), or one the last daemon was starting.
            // It runs no TPM of the guest's, whatever the record says (a DAEMON_STOPPED snapshot is not its state).
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: the swtpm left by the last daemon never had the vTPM''s state (no {1}"
                    + " in {2}); stopping it", name, stateFile.getFileName(), dir);
            live.stop();
            return Outcome.NONE;
        }
        Outcome outcome = leftByStop(stored.get()) ? Outcome.KEPT_AFTER_STOP : keepCrashed(live, stored.get(), name);
        if (outcome != Outcome.NONE) {
            held.put(uuid, live);
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: swtpm pid {1} left running by the last daemon is kept for its guest''s"
                    + " re-attach", name, Long.toString(live.pid()));
        }
        return outcome;
    }

    private static Outcome lost(String name, EngineException e) {
        LOG.log(System.Logger.Level.WARNING, "vTPM {0}: the swtpm that outlived the last daemon was lost: {1}; the"
                + " vTPM keeps its last stored state, its guest's TPM will restart with PCRs reset", name, e.getMessage());
        return Outcome.NONE;
    }

    /**
     * A clean stop seals the running state as a DAEMON_STOPPED snapshot after the last command and
     * sends none after it: the swtpm holds exactly that state.
     */
    private static boolean leftByStop(InstanceRecord stored) {
        return stored.lastEnd() == EndKind.DAEMON_STOPPED && stored.snapshot().isPresent();
    }

    /** After a crash the swtpm is ahead of the store (PCRs, and perhaps an unsaved change): store its state first. */
    private Outcome keepCrashed(SurvivingEngine live, InstanceRecord last, String name) {
        Optional<StateBlobs> running;
        try {
            running = live.runningState();
        } catch (EngineException e) {
            return lost(name, e);
        }
        if (running.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: the swtpm left by the last daemon runs no TPM; stopping it", name);
            live.stop();
            return Outcome.NONE;
        }
        StateBlobs blobs = running.get();
        InstanceRecord recovered = last.withSave(last.generation() + 1, EndKind.DAEMON_CRASHED, blobs.permanent(),
                Optional.of(new InstanceRecord.Snapshot(EndKind.DAEMON_CRASHED, blobs.volatileState().orElseThrow())));
        try {
            services.commit(recovered);
        } catch (RuntimeException e) {
            live.stop();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: kept the running state of the swtpm that outlived the last daemon as a"
                + " snapshot for the re-attach (generation {1})", name, recovered.generation());
        return Outcome.KEPT_AFTER_CRASH;
    }

    /** Whether the survivor of vTPM {@code name} is held (its runtime folder must stay). */
    boolean holds(String name) {
        return held.keySet().stream().anyMatch(u -> u.value().equals(name));
    }

    /** Stops, after {@link #UNCLAIMED_GRACE}, every survivor no guest took over by then. */
    void stopUnclaimedLater() {
        if (held.isEmpty()) {
            return;
        }
        CompletableFuture.delayedExecutor(UNCLAIMED_GRACE.toSeconds(), TimeUnit.SECONDS).execute(this::stopUnclaimed);
    }

    void stopUnclaimed() {
        for (Uuid uuid : held.keySet()) {
            SurvivingEngine live = held.remove(uuid);
            if (live != null) {
                LOG.log(System.Logger.Level.INFO, "vTPM {0}: no guest re-attached within {1} s; stopping the swtpm pid {2} the"
                        + " last daemon left (its state stays stored as a snapshot)", uuid, UNCLAIMED_GRACE.toSeconds(),
                        Long.toString(live.pid()));
                live.stop();
            }
        }
    }

    /**
     * At a device's start: the engine to continue vTPM {@code uuid} with, if a survivor of it is held
     * and the start continues that very TPM (a re-attach restoring the DAEMON_STOPPED or
     * DAEMON_CRASHED snapshot the survivor holds). A survivor the start does not continue is stopped
     * here, before its folder is reused.
     *
     * @return the survivor taken over; empty if there was none, or it could not be taken over (the
     *         caller then starts an engine from {@code from}, snapshot included)
     */
    Optional<TpmEngine> continueFor(String device, Uuid uuid, DomainId guest, StartMode mode, InstanceRecord from) {
        SurvivingEngine live = held.remove(uuid);
        if (live == null) {
            return Optional.empty();
        }
        boolean same = mode == StartMode.RESTORE && from.snapshot().map(s -> s.reason() == EndKind.DAEMON_STOPPED
                || s.reason() == EndKind.DAEMON_CRASHED).orElse(false);
        if (!same) {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: stopping the swtpm pid {2} the last daemon left: start mode {3}"
                    + " does not continue it", device, uuid, Long.toString(live.pid()), mode);
            live.stop();
            return Optional.empty();
        }
        try {
            TpmEngine engine = services.boot().adopt(live, uuid.value(), guest, from.family());
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1}: took over its running swtpm pid {2}: the TPM goes on exactly as"
                    + " the guest left it, nothing restored", device, uuid, Long.toString(live.pid()));
            return Optional.of(engine);
        } catch (EngineException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: vTPM {1}: {2}; restoring the {3} snapshot instead", device, uuid,
                    e.getMessage(), from.snapshot().orElseThrow().reason());
            return Optional.empty();
        }
    }
}
