package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The daemon's checkpoints of one store (docs/reliability.md, "Checkpoints"): a checkpoint goes to the
 * {@link CommitLog} (one fdatasync, shared by the checkpoints waiting at that moment), and the record files and the
 * anchor catch up when the log's entries are folded: every {@link #FOLD_INTERVAL} while there are any, when the live
 * entries would fill half a log, at {@link #close}, and at the start, which also checks that the logs were not put
 * back to an older copy. The log is opened at the first checkpoint: a store that never checkpoints (the pool's)
 * never makes one. While another owner holds it (an older daemon's store of the same folder, until it closes),
 * checkpoints are full saves and the log is tried again at most every {@link #RETRY}. Thread-safe.
 */
final class Checkpoints implements AutoCloseable, CommitLog.Owner {
    static final Duration FOLD_INTERVAL = Duration.ofSeconds(10);
    /** How often a log held by another owner is tried again: a try opens two files, a checkpoint must not pay that. */
    static final Duration RETRY = Duration.ofSeconds(1);
    private static final System.Logger LOG = System.getLogger(Checkpoints.class.getName());

    private final InstanceStore store;
    private final GenerationAnchor anchor;
    private final Path dir;
    private final Duration foldInterval;
    /** Wraps each commit-log channel as it is opened: the identity, except in fault-injection tests. */
    private final UnaryOperator<FileChannel> faults;
    private final FoldAlarm alarm;
    private final Object opening = new Object();
    private volatile CommitLog log;
    /** Set once the logs cannot be made (no room, something in the way): checkpoints are full saves from then on. */
    private volatile boolean unavailable;
    /** The {@link System#nanoTime} before which the logs are not tried again (another owner held them). */
    private volatile long retryAt = System.nanoTime();
    /** Whether the logs were ever found held; guarded by {@link #opening}. */
    private boolean foundHeld;
    private ScheduledExecutorService folder;
    private volatile boolean closed;

    /** Recovers what the logs of {@code dir} hold: checks them against the anchor and folds them. */
    Checkpoints(InstanceStore store, GenerationAnchor anchor, Path dir, Duration foldInterval, UnaryOperator<FileChannel> faults)
            throws IOException {
        this.store = store;
        this.anchor = anchor;
        this.dir = dir;
        this.foldInterval = foldInterval;
        this.faults = faults;
        this.alarm = new FoldAlarm(dir, foldInterval, FoldAlarm.REPEAT);
        recover(true);
    }

    /**
     * Reads both logs ({@link LogRecovery}), folds their newest records; returns the highest epoch sequence, the
     * anchor's or a log's. At the start ({@code atStart}) for what the last run left, and again through
     * {@link #takeOver} once this store holds the logs.
     */
    private long recover(boolean atStart) throws IOException {
        LogRecovery.Found found = LogRecovery.read(anchor, dir, store::keyOf, atStart);
        if (!found.newest().isEmpty()) {
            int folded = fold(found.newest(), found.end());
            if (atStart || folded > 0) {
                LOG.log(System.Logger.Level.INFO, "commit log in {0}: folded {1} checkpoint(s) {2} into the record files", dir,
                        folded, atStart ? "of the last run" : "that its last owner left");
            }
        }
        return found.highestEpoch();
    }

    /**
     * The logs were read at construction, but another owner may have written them until it let them go (an older
     * daemon's store checkpoints, switches logs and folds until it closes, or its process dies): read them again now
     * that nobody else can. The first epoch must come after every epoch there is, the anchor's mark included, or a mark written by the
     * old daemon's last fold would be ahead of it and the next start would refuse the logs as rolled back; and what the
     * old owner left unfolded goes to the record files before this store writes over its log.
     */
    @Override
    public long takeOver() throws IOException {
        return recover(false);
    }

    /** The vTPM's newest checkpoint that is not yet in its record file. */
    Optional<InstanceRecord> unfolded(Uuid uuid) {
        CommitLog l = log;
        return l == null ? Optional.empty() : Optional.ofNullable(l.live().get(uuid));
    }

    /**
     * Makes {@code record} durable: in the commit log if it can be used, else by {@code fullSave}. Either way the
     * caller's check that the generation moves forward has been done.
     */
    void checkpoint(InstanceRecord record, IoAction fullSave) throws IOException {
        Optional<CommitLog> l = log();
        if (l.isEmpty() || l.get().broken() || approximateSize(record) > CommitLog.MAX_SEALED) {
            fullSave.run();
            return;
        }
        l.get().append(record);
    }

    /** The sealed size of {@code record}, give or take its few short fields. */
    private static long approximateSize(InstanceRecord record) {
        return 256L + record.permanent().length + record.snapshot().map(sn -> sn.volatileState().length).orElse(0);
    }

    /** fdatasyncs of the commit log so far (one per group of checkpoints). */
    long logSyncs() {
        CommitLog l = log;
        return l == null ? 0 : l.syncs();
    }

    /** A full save of {@code uuid} at {@code generation} made its live entries needless. */
    void saved(Uuid uuid, long generation) {
        CommitLog l = log;
        if (l != null) {
            l.forget(uuid, generation);
        }
    }

    @FunctionalInterface
    interface IoAction {
        void run() throws IOException;
    }

    /** The open log; empty while checkpoints are full saves. Costs a volatile read, and a clock read while it is held. */
    private Optional<CommitLog> log() throws IOException {
        CommitLog l = log;
        if (l != null || unavailable || System.nanoTime() - retryAt < 0) {
            return Optional.ofNullable(l);
        }
        synchronized (opening) {
            if (log == null && !unavailable && System.nanoTime() - retryAt >= 0) {
                if (closed) {
                    throw new IllegalStateException("the vTPM store " + dir + " is closed");
                }
                Optional<CommitLog> opened;
                try {
                    opened = CommitLog.open(dir, this, faults);
                } catch (IOException e) {
                    // No room for 2 x 8 MiB, or a folder in the way, or what the logs hold could not be folded first (they
                    // are kept for the next start): full saves still work where a record fits.
                    unavailable = true;
                    LOG.log(System.Logger.Level.WARNING, "{0}; checkpoints here are full saves (four fsyncs each) until the"
                            + " daemon restarts", e.getMessage());
                    return Optional.empty();
                }
                if (opened.isEmpty()) {
                    retryAt = System.nanoTime() + RETRY.toNanos();
                    if (!foundHeld) {
                        foundHeld = true;
                        LOG.log(System.Logger.Level.WARNING, "the commit log in {0} is held by another process or store:"
                                + " checkpoints here are full saves (four fsyncs each) until it is free (tried every {1} s)",
                                dir, RETRY.toSeconds());
                    }
                } else {
                    if (foundHeld) {
                        LOG.log(System.Logger.Level.INFO, "the commit log in {0} is free now: checkpoints go to it again", dir);
                    }
                    log = opened.get();
                    folder = Executors.newSingleThreadScheduledExecutor(r -> {
                        Thread t = new Thread(r, "vtpmback-fold");
                        t.setDaemon(true);
                        return t;
                    });
                    folder.scheduleWithFixedDelay(this::foldQuietly, foldInterval.toMillis(), foldInterval.toMillis(),
                            TimeUnit.MILLISECONDS);
                }
            }
            return Optional.ofNullable(log);
        }
    }

    @Override
    public SealingKey keyOf(Uuid uuid) {
        return store.keyOf(uuid);
    }

    @Override
    public void foldLive() throws IOException {
        CommitLog l = log;
        if (l != null) {
            GenerationAnchor.LogPosition at = position(l);
            fold(new HashMap<>(l.live()), at);
        }
    }

    /** The background fold: its failures go to the {@link FoldAlarm} (loud once, then rate-limited, and in status). */
    private void foldQuietly() {
        CommitLog l = log;
        try {
            if (l != null && (!l.live().isEmpty() || !position(l).equals(anchor.contents().log()))) {
                foldLive();
            }
            alarm.succeeded();
        } catch (IOException | RuntimeException e) {
            alarm.failed(l == null ? java.util.Set.of() : l.live().keySet(), e);
        }
    }

    /** For {@code vtpmback status}: what is wrong with where {@code uuid}'s checkpoints go, if anything. */
    Optional<String> problem(Uuid uuid) {
        CommitLog l = log;
        Optional<IOException> broken = l == null ? Optional.empty() : l.failure();
        if (broken.isPresent()) {
            return Optional.of("commit log out of use (" + broken.get().getMessage() + "): checkpoints are full saves");
        }
        return alarm.status(uuid);
    }

    private static GenerationAnchor.LogPosition position(CommitLog l) {
        CommitLog.Position p = l.position();
        return new GenerationAnchor.LogPosition(p.epoch().sequence(), p.end());
    }

    /**
     * Writes each record to its file unless that file is as new or the vTPM was deleted at or above it, raises the
     * marks and records {@code position}, all under the anchor's lock (every record file is written under it), then
     * forgets the live entries that are now in their files. Returns how many files were written.
     */
    private int fold(Map<Uuid, InstanceRecord> records, GenerationAnchor.LogPosition position) throws IOException {
        List<InstanceRecord> written = anchor.update(marks -> {
            Map<Path, byte[]> files = new LinkedHashMap<>();
            List<InstanceRecord> out = new java.util.ArrayList<>();
            for (InstanceRecord r : records.values()) {
                GenerationAnchor.Mark m = marks.get(r.uuid());
                if (m != null && m.retired() && r.generation() <= m.generation()) {
                    continue; // deleted (or taken) since: the entry is dead
                }
                if (store.fileGeneration(r.uuid()) >= r.generation()) {
                    continue; // a save or an import wrote it, or a newer state, already
                }
                files.put(store.fileOf(r.uuid()), store.sealFile(r));
                out.add(r);
            }
            AtomicFiles.writeAll(dir, files);
            for (InstanceRecord r : out) {
                GenerationAnchor.Mark m = marks.get(r.uuid());
                if (m == null || m.generation() < r.generation()) {
                    marks.put(r.uuid(), new GenerationAnchor.Mark(r.generation(), false));
                }
            }
            return out;
        }, p -> position.sequence() > p.sequence() || (position.sequence() == p.sequence() && position.length() > p.length())
                ? position : p);
        CommitLog l = log;
        if (l != null) {
            records.values().forEach(r -> l.forget(r.uuid(), r.generation()));
        }
        return written.size();
    }

    /** Stops the background fold, folds what is live, releases the logs. Idempotent. */
    @Override
    public void close() throws IOException {
        synchronized (opening) {
            if (closed) {
                return;
            }
            closed = true;
        }
        CommitLog l = log;
        if (l == null) {
            return;
        }
        folder.shutdown(); // not interrupted: a fold under way finishes (an interrupt would close its files)
        try {
            folder.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        l.close();
        foldLive();
    }
}
