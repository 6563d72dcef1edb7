package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What is stored for a vTPM, and the monotonic rule over it (docs/reliability.md, "Monotonic state" and
 * "Checkpoints"): the stored record is the newest (highest generation) of its record file and its commit-log
 * entries; the generation committed for it is the highest of its mark in the {@link GenerationAnchor} and its log
 * entries. A record older than its mark, or under a retired mark, is refused on load; a write that would not move
 * the generation forward is refused before anything is written. The one place for both rules. Thread-safe.
 */
final class StoredRecords {
    private static final System.Logger LOG = System.getLogger(InstanceStore.class.getName()); // logs as the store

    private final Path dir;
    private final RecordFiles files;
    private final GenerationAnchor anchor;
    /** The daemon's: its commit log in memory. Null in a second process, which reads the logs through {@link #logs}. */
    private final Checkpoints checkpoints;
    private final LogView logs;
    /** The daemon's store raises a mark that lags behind its record (see the commit order of InstanceStore). */
    private final boolean owner;

    StoredRecords(Path dir, RecordFiles files, GenerationAnchor anchor, Checkpoints checkpoints, LogView logs, boolean owner) {
        this.dir = dir;
        this.files = files;
        this.anchor = anchor;
        this.checkpoints = checkpoints;
        this.logs = logs;
        this.owner = owner;
    }

    /** See {@link InstanceStore#load}. */
    Optional<InstanceRecord> load(Uuid uuid) throws CorruptStateException {
        // The mark first: a commit makes its record durable before it raises the mark, so every mark read here is covered
        // by a record read after it. Read after the record, a commit in between would pair the old record with the new
        // mark, and a second process (vtpmback list) would refuse a valid state as rolled back (ConcurrentReaderTest).
        Optional<GenerationAnchor.Mark> mark;
        try {
            mark = anchor.markOf(uuid);
        } catch (IOException e) {
            throw new CorruptStateException(uuid, anchor.file(), "(its generation anchor) cannot be read: " + e.getMessage());
        }
        Optional<InstanceRecord> logged = logged(uuid); // before the file: a fold writes the file before it forgets the entry
        Optional<InstanceRecord> file;
        try {
            file = files.read(uuid);
        } catch (CorruptStateException e) {
            if (logged.isEmpty()) {
                throw e;
            }
            LOG.log(System.Logger.Level.WARNING, "{0}; its commit log holds a newer state (generation {1}), which is used and"
                    + " replaces the file at the next fold", e.getMessage(), logged.get().generation());
            file = Optional.empty();
        }
        if (logged.isPresent() && mark.isPresent() && mark.get().retired() && logged.get().generation() <= mark.get().generation()) {
            logged = Optional.empty(); // a checkpoint of a vTPM deleted since
        }
        Optional<InstanceRecord> found = newer(file, logged);
        if (found.isEmpty()) {
            return found;
        }
        long generation = found.get().generation();
        if (mark.isPresent() && (mark.get().retired() || generation < mark.get().generation())) {
            throw new RolledBackStateException(uuid, files.fileOf(uuid), generation, mark.get().generation(), mark.get().retired(),
                    anchor.file());
        }
        boolean fromFile = file.isPresent() && found.get() == file.get();
        if (owner && fromFile && (mark.isEmpty() || generation > mark.get().generation())) {
            try {
                raise(uuid, generation);
            } catch (IOException e) {
                throw new CorruptStateException(uuid, anchor.file(), "(its generation anchor) cannot be updated: " + e.getMessage());
            }
        }
        return found;
    }

    private static Optional<InstanceRecord> newer(Optional<InstanceRecord> a, Optional<InstanceRecord> b) {
        if (a.isEmpty()) {
            return b;
        }
        return b.isPresent() && b.get().generation() > a.get().generation() ? b : a;
    }

    /** The newest checkpoint of {@code uuid} that is only in a commit log: the daemon's in memory, another process's read. */
    Optional<InstanceRecord> logged(Uuid uuid) throws CorruptStateException {
        if (checkpoints != null) {
            return checkpoints.unfolded(uuid);
        }
        try {
            return logs.newest(uuid);
        } catch (IOException e) {
            throw new CorruptStateException(uuid, dir.resolve(CommitLog.FILES.get(0)), "(its commit log) cannot be read: " + e.getMessage());
        }
    }

    /** What is stored, file or log, before the generation check; an unreadable file counts as absent if a log has it. */
    Optional<InstanceRecord> newest(Uuid uuid) throws CorruptStateException {
        Optional<InstanceRecord> logged = logged(uuid);
        try {
            return newer(files.read(uuid), logged);
        } catch (CorruptStateException e) {
            if (logged.isEmpty()) {
                throw e;
            }
            return logged;
        }
    }

    /** The highest generation committed for {@code uuid}: its mark's, or a log entry's. */
    long committed(Uuid uuid) throws IOException {
        long mark = anchor.markOf(uuid).map(GenerationAnchor.Mark::generation).orElse(0L);
        try {
            return Math.max(mark, logged(uuid).map(InstanceRecord::generation).orElse(0L));
        } catch (CorruptStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * {@code record} as an import stores it: above what this host committed for its uuid. An older one would roll the
     * TPM back and is refused unless {@code allowRollback} (see {@link InstanceStore#importRecord}).
     */
    InstanceRecord forImport(InstanceRecord record, boolean allowRollback) throws IOException {
        Uuid uuid = record.uuid();
        long committed = committed(uuid);
        try {
            committed = Math.max(committed, newest(uuid).map(InstanceRecord::generation).orElse(0L));
        } catch (CorruptStateException e) {
            // an unreadable stored file is being replaced; the mark and the logs say what was committed
        }
        if (record.generation() < committed && !allowRollback) {
            throw new StaleGenerationException("vTPM " + uuid + ": the bundle holds generation " + record.generation()
                    + ", older than generation " + committed + " that this host has committed (" + files.fileOf(uuid)
                    + ", generation anchor " + anchor.file() + "): importing it would roll the TPM back (NV counters,"
                    + " dictionary-attack lockout); add --allow-rollback to import it anyway");
        }
        InstanceRecord stored = record;
        if (record.generation() <= committed) {
            stored = record.withSave(committed + 1, record.lastEnd(), record.permanent(), record.snapshot());
            if (record.generation() < committed) {
                LOG.log(System.Logger.Level.WARNING, "ROLLBACK allowed by the operator: vTPM {0} is set back to the"
                        + " state of generation {1} (this host had committed generation {2}); stored as generation {3}",
                        uuid, record.generation(), committed, stored.generation());
            }
        }
        return stored;
    }

    /** The generation of {@code uuid}'s newest entry in the commit logs as this process sees them (0 if none). */
    long inLogs(Uuid uuid) throws IOException {
        if (checkpoints != null) {
            return checkpoints.unfolded(uuid).map(InstanceRecord::generation).orElse(0L);
        }
        return logs.newest(uuid).map(InstanceRecord::generation).orElse(0L);
    }

    /**
     * Refuses {@code record} unless its generation is above both its mark and the newest log entry ({@code logged}).
     *
     * @throws StaleGenerationException naming what holds the higher generation; the caller writes nothing
     */
    void refuseStale(InstanceRecord record, GenerationAnchor.Mark mark, long logged) throws StaleGenerationException {
        long marked = mark == null ? 0 : mark.generation();
        if (record.generation() <= Math.max(marked, logged)) {
            boolean byLog = logged > marked;
            throw new StaleGenerationException("refusing to save generation " + record.generation() + " of vTPM " + record.uuid()
                    + ": this host has " + (!byLog && mark != null && mark.retired() ? "deleted it at" : "committed") + " generation "
                    + Math.max(marked, logged) + " (" + (byLog ? "commit log in " + dir : "generation anchor " + anchor.file())
                    + "); nothing was written");
        }
    }

    /** Raises {@code uuid}'s mark to {@code generation} (never lowers it; a retired mark comes back to life). */
    private void raise(Uuid uuid, long generation) throws IOException {
        anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            if (m == null || m.generation() < generation) {
                marks.put(uuid, new GenerationAnchor.Mark(generation, false));
            }
            return null;
        });
    }
}
