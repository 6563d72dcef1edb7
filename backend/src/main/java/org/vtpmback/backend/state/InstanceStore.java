package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * The encrypted, crash-safe store of vTPM instances: one sealed file per uuid,
 * {@code <dir>/<uuid>.vtpm}, replaced atomically on every save. Nothing of a vTPM is on disk in
 * plaintext. A file that fails to open is never replaced by a fresh TPM: the instance refuses to start
 * until an operator acts (re-manufacturing silently is how the Xen 3.x and mini-os stacks lost keys).
 *
 * <p><b>Monotonic state.</b> Every save carries a generation that only moves forward, and the host's
 * {@link GenerationAnchor} (a sealed file beside the records) keeps each uuid's highest committed
 * generation. A record older than its mark, an authentic file put back from earlier (a rollback, or a
 * consumed suspend snapshot replayed), is refused by {@link #load} with a
 * {@link RolledBackStateException} naming the uuid, both generations and the file; a save or import that
 * would not move the generation forward is refused with a {@link StaleGenerationException}. The rule
 * lives inside the store's commit protocol ({@link StoredRecords}), so every store behind this interface keeps it.
 *
 * <p>Commit order of a {@link #save}, and why: (1) the record is written durably (temp file, fsync, rename,
 * fsync folder), (2) then the anchor is raised to its generation, durably, both under the anchor's lock (every
 * record file is written under it). A crash between (1) and (2) leaves the record one generation ahead of its
 * mark, which loads (a record may be newer than its mark, never older) and raises the mark on its next load or
 * save. The other order could leave the mark ahead of the only record there is, making a valid current record
 * unloadable. The price of this order is the crash window: until the mark catches up, the record before the last
 * one is not yet refused.
 *
 * <p><b>Checkpoints.</b> The daemon's store commits the state a guest command changed with {@link #checkpoint}:
 * one entry in a commit log and one fdatasync, shared with the other vTPMs' checkpoints of that moment, folded into
 * the record files and the anchor later ({@link Checkpoints}; docs/reliability.md, "Checkpoints"). A log entry is the
 * record and its mark at once, so what is stored for a vTPM is the newest of its record file and its log entries,
 * and its committed generation the highest of its mark and its log entries.
 *
 * <p>Each uuid's key is derived from the master key once per store ({@link RecordFiles}) and kept until
 * {@link #close}, which wipes every key it derived.
 *
 * <p>Thread-safe for different uuids; the caller holds the instance's lease for writes to one uuid.
 */
public final class InstanceStore implements VtpmStore {
    public static final String SUFFIX = ".vtpm";
    private static final System.Logger LOG = System.getLogger(InstanceStore.class.getName());

    private final Path dir;
    private final MasterKey masterKey;
    private final GenerationAnchor anchor;
    private final RecordFiles files;
    /** The daemon's: its commit log. Null in a second process, which reads the logs ({@link StoredRecords}). */
    private final Checkpoints checkpoints;
    private final StoredRecords records;
    private final Retirements retirements;

    /** The daemon's store: it owns the folder, so temp files a crash left behind are removed. */
    public InstanceStore(Path dir, MasterKey masterKey) throws IOException {
        this(dir, masterKey, true, Checkpoints.FOLD_INTERVAL, UnaryOperator.identity());
    }

    /**
     * Seam for fault-injection tests: the daemon's store, whose commit-log channels pass through {@code logChannels}
     * once open (e.g. a Mockito spy whose {@code force} fails as a failing disk's would).
     */
    public InstanceStore(Path dir, MasterKey masterKey, UnaryOperator<FileChannel> logChannels) throws IOException {
        this(dir, masterKey, true, Checkpoints.FOLD_INTERVAL, logChannels);
    }

    /** The daemon's store, folding its commit log every {@code foldInterval} (tests: never, to keep entries in the log). */
    InstanceStore(Path dir, MasterKey masterKey, Duration foldInterval, UnaryOperator<FileChannel> logChannels) throws IOException {
        this(dir, masterKey, true, foldInterval, logChannels);
    }

    private InstanceStore(Path dir, MasterKey masterKey, boolean owner, Duration foldInterval, UnaryOperator<FileChannel> logChannels)
            throws IOException {
        this.dir = AtomicFiles.createPrivateDirectory(dir);
        this.masterKey = masterKey;
        this.files = new RecordFiles(this.dir, masterKey);
        this.anchor = new GenerationAnchor(this.dir, masterKey);
        if (owner) {
            AtomicFiles.removeLeftovers(dir);
            if (!anchor.exists() && !list().isEmpty()) {
                LOG.log(System.Logger.Level.WARNING, "generation anchor {0} is missing while {1} vTPM records exist: each"
                        + " record''s generation becomes its mark when it is next loaded. Expected once, after upgrading"
                        + " vtpmback; otherwise the anchor was deleted, and a record rolled back before now is not detected",
                        anchor.file(), list().size());
            }
            this.checkpoints = new Checkpoints(this, anchor, this.dir, foldInterval, logChannels); // folds what a crash left
        } else {
            this.checkpoints = null;
        }
        this.records = new StoredRecords(this.dir, files, anchor, checkpoints, new LogView(this.dir, this::keyOf), owner);
        this.retirements = new Retirements(files, anchor, records, checkpoints);
    }

    /**
     * The store as a second process (the {@code vtpmback} commands) opens it while the daemon may be
     * running: it leaves temp files alone, since one may be the daemon's save in progress.
     */
    public static InstanceStore shared(Path dir, MasterKey masterKey) throws IOException {
        return new InstanceStore(dir, masterKey, false, Checkpoints.FOLD_INTERVAL, UnaryOperator.identity());
    }

    public Path fileOf(Uuid uuid) {
        return files.fileOf(uuid);
    }

    /** This host's folder is this host's alone: nothing to take, no one to wait for; the record as {@link #load}. */
    @Override
    public Optional<InstanceRecord> acquire(Uuid uuid, Duration wait) throws CorruptStateException {
        return load(uuid);
    }

    @Override
    public boolean stored(Uuid uuid) {
        return Files.exists(fileOf(uuid));
    }

    /** A {@link #save}: no other host takes the vTPM from this folder. */
    @Override
    public void saveAndRelease(InstanceRecord record) throws IOException {
        save(record);
    }

    @Override
    public void release(Uuid uuid) {
        // nothing is held beyond the daemon's own InstanceLeases
    }

    /** Never: no other host writes this folder. */
    @Override
    public Optional<String> fenced(Uuid uuid) {
        return Optional.empty();
    }

    @Override
    public String where(Uuid uuid) {
        return fileOf(uuid).toString();
    }

    @Override
    public String describe() {
        return dir.toString();
    }

    /**
     * The stored instance, or empty if there is none.
     *
     * @throws CorruptStateException if a file exists but cannot be authenticated or parsed
     */
    public Optional<InstanceRecord> load(Uuid uuid) throws CorruptStateException {
        return records.load(uuid);
    }

    /** The record file's generation, or -1 if there is none or it does not open (a fold may replace it). */
    long fileGeneration(Uuid uuid) {
        return files.generation(uuid);
    }

    /** {@code record} sealed as its record file holds it. */
    byte[] sealFile(InstanceRecord record) {
        return files.seal(record);
    }

    /**
     * Commits {@code record} in full: replaces the stored instance atomically (old or new after any crash), then
     * raises the uuid's mark (see the commit order in the class comment). Four fsyncs: for a vTPM's start, its
     * teardown, an import; a guest command's change goes through {@link #checkpoint}.
     *
     * @throws StaleGenerationException if its generation is not above what this host committed; nothing is written
     */
    @Override
    public void save(InstanceRecord record) throws IOException {
        Uuid uuid = record.uuid();
        long logged = checkpoints != null ? 0 : records.inLogs(uuid); // a second process reads the logs before the lock
        anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            long inLog = checkpoints != null ? records.inLogs(uuid) : logged;
            records.refuseStale(record, m, inLog);
            AtomicFiles.write(fileOf(uuid), sealFile(record), AtomicFiles.OWNER_ONLY);
            if (m == null || m.generation() < record.generation()) {
                marks.put(uuid, new GenerationAnchor.Mark(record.generation(), false));
            }
            return null;
        });
        if (checkpoints != null) {
            checkpoints.saved(uuid, record.generation());
        }
    }

    /**
     * Commits the state a guest command changed: in the daemon's store an entry in the commit log, durable when this
     * returns (one fdatasync, shared with the checkpoints of other vTPMs waiting at that moment), else a full
     * {@link #save}. The caller holds the vTPM's lease, so its checkpoints come one after the other.
     *
     * @throws StaleGenerationException if its generation is not above what this host committed; nothing is written
     */
    @Override
    public void checkpoint(InstanceRecord record) throws IOException {
        Uuid uuid = record.uuid();
        Optional<GenerationAnchor.Mark> m = anchor.markOf(uuid); // one stat unless the anchor changed
        if (checkpoints == null || (m.isPresent() && m.get().retired())) {
            save(record); // a retired mark comes back to life only through a save, as it always did
            return;
        }
        records.refuseStale(record, m.orElse(null), records.inLogs(uuid));
        checkpoints.checkpoint(record, () -> save(record));
    }

    /**
     * Stores a newly manufactured vTPM (end NEW) unless its uuid is stored. Check, write and mark happen under the
     * anchor's lock (commit order as above): of a daemon's first start and a {@code vtpmback create} of one uuid at
     * once, one stores and the other is refused. Generation: 1, or past the mark of a deleted vTPM of that uuid.
     *
     * @return the record as stored
     * @throws AlreadyStoredException if a record of {@code uuid} exists; nothing is written
     */
    @Override
    public InstanceRecord create(Uuid uuid, TpmFamily family, byte[] permanent) throws IOException {
        return anchor.update(marks -> {
            if (Files.exists(fileOf(uuid))) {
                throw new AlreadyStoredException(uuid, fileOf(uuid));
            }
            long generation = Optional.ofNullable(marks.get(uuid)).map(GenerationAnchor.Mark::generation).orElse(0L) + 1;
            InstanceRecord made = new InstanceRecord(uuid, family, Instant.now(), generation, InstanceRecord.EndKind.NEW, permanent,
                    Optional.empty());
            AtomicFiles.write(fileOf(uuid), sealFile(made), AtomicFiles.OWNER_ONLY);
            marks.put(uuid, new GenerationAnchor.Mark(generation, false));
            return made;
        });
    }

    /** The generation a new record of {@code uuid} gets: above anything this host committed for it (1 if nothing). */
    public long nextGeneration(Uuid uuid) throws IOException {
        return records.committed(uuid) + 1;
    }

    /**
     * Stores a record brought from elsewhere ({@code vtpmback import}). A record older than what this host
     * has committed for its uuid would roll the TPM back (NV counters, dictionary-attack lockout) and is
     * refused, unless {@code allowRollback}: then it is stored under a new generation above the mark, so
     * the mark still only moves forward, and the rollback is logged as a warning.
     *
     * @return the record as stored
     * @throws StaleGenerationException if it is older and {@code allowRollback} is false; nothing is written
     */
    public InstanceRecord importRecord(InstanceRecord record, boolean allowRollback) throws IOException {
        InstanceRecord stored = records.forImport(record, allowRollback);
        save(stored);
        return stored;
    }

    /**
     * Deletes the stored instance, retiring its mark first: the mark stays, flagged deleted at the last
     * generation, so a copy of the file put back later is refused, and a new vTPM of the same uuid
     * starts above it.
     *
     * @return false if nothing was stored for {@code uuid}
     */
    public boolean delete(Uuid uuid) throws IOException {
        return retirements.delete(uuid);
    }

    /**
     * Takes a record out for good (a pool entry as a first start binds it): its mark is retired under the anchor's
     * lock, then its file is deleted. Once the retired mark is durable it is taken: of two takers one gets it, and
     * no copy of the file loads again (a crash before the delete leaves a file {@link #load} refuses).
     *
     * @return the record, or empty if none is stored or another took it
     * @throws CorruptStateException if the file cannot be authenticated, or was taken (or is older than its mark)
     */
    public Optional<InstanceRecord> take(Uuid uuid) throws CorruptStateException, IOException {
        return retirements.take(uuid);
    }

    /**
     * For {@code vtpmback status}: what is wrong with where {@code uuid}'s state goes, if anything (the commit log out
     * of use, or its checkpoints not folded into the record file); empty outside the daemon's store.
     */
    @Override
    public Optional<String> problem(Uuid uuid) {
        return checkpoints == null ? Optional.empty() : checkpoints.problem(uuid);
    }

    /** For tests and the benchmark's reading: fdatasyncs of the daemon store's commit log (one per group). */
    long logSyncs() {
        return checkpoints == null ? 0 : checkpoints.logSyncs();
    }

    /** The host's generation anchor file (high-water marks of all uuids). */
    public Path anchorFile() {
        return anchor.file();
    }

    /** The uuids of all stored instances (record files). */
    public List<Uuid> list() {
        return files.list();
    }

    public Path dir() {
        return dir;
    }

    MasterKey masterKey() {
        return masterKey;
    }

    SealingKey keyOf(Uuid uuid) {
        return files.keyOf(uuid);
    }

    /**
     * Folds the commit log into the record files (the daemon's store), then wipes the keys this store derived (each
     * uuid's and the anchor's). Call it once nothing uses the store any more: a save or load that runs after it
     * fails. The keys are wiped even if the fold fails (the next start folds the log).
     */
    @Override
    public void close() throws IOException {
        try {
            if (checkpoints != null) {
                checkpoints.close();
            }
        } finally {
            files.close();
            anchor.close();
        }
    }
}
