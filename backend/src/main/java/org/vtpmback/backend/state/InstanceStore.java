package org.vtpmback.backend.state;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
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
 * lives here, inside the store's commit protocol, so every store behind this interface keeps it.
 *
 * <p>Commit order, and why: (1) the record is written durably (temp file, fsync, rename, fsync folder),
 * (2) then the anchor is raised to its generation, durably. A crash between (1) and (2) leaves the
 * record one generation ahead of its mark, which loads (a record may be newer than its mark, never
 * older) and raises the mark on its next load or save. The other order could leave the mark ahead of
 * the only record there is, making a valid current record unloadable. The price of this order is the
 * crash window: until the mark catches up, the record before the last one is not yet refused.
 *
 * <p>Each uuid's key is derived from the master key once per store (HKDF costs about as much as sealing a
 * record with AES-NI) and kept until {@link #close}, which wipes every key it derived.
 *
 * <p>Thread-safe for different uuids; the caller holds the instance's lease for writes to one uuid.
 */
public final class InstanceStore implements AutoCloseable {
    public static final String SUFFIX = ".vtpm";
    private static final String PURPOSE = "instance-state";
    private static final System.Logger LOG = System.getLogger(InstanceStore.class.getName());

    private final Path dir;
    private final MasterKey masterKey;
    private final GenerationAnchor anchor;
    /** The daemon's store raises a mark that lags behind its record (see the commit order). */
    private final boolean owner;
    /** Derived once per uuid; wiped by {@link #close}. */
    private final ConcurrentMap<Uuid, SealingKey> keys = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** The daemon's store: it owns the folder, so temp files a crash left behind are removed. */
    public InstanceStore(Path dir, MasterKey masterKey) throws IOException {
        this(dir, masterKey, true);
    }

    private InstanceStore(Path dir, MasterKey masterKey, boolean owner) throws IOException {
        this.dir = AtomicFiles.createPrivateDirectory(dir);
        this.masterKey = masterKey;
        this.anchor = new GenerationAnchor(this.dir, masterKey);
        this.owner = owner;
        if (owner) {
            AtomicFiles.removeLeftovers(dir);
            if (!anchor.exists() && !list().isEmpty()) {
                LOG.log(System.Logger.Level.WARNING, "generation anchor {0} is missing while {1} vTPM records exist: each"
                        + " record''s generation becomes its mark when it is next loaded. Expected once, after upgrading"
                        + " vtpmback; otherwise the anchor was deleted, and a record rolled back before now is not detected",
                        anchor.file(), list().size());
            }
        }
    }

    /**
     * The store as a second process (the {@code vtpmback} commands) opens it while the daemon may be
     * running: it leaves temp files alone, since one may be the daemon's save in progress.
     */
    public static InstanceStore shared(Path dir, MasterKey masterKey) throws IOException {
        return new InstanceStore(dir, masterKey, false);
    }

    public Path fileOf(Uuid uuid) {
        return dir.resolve(uuid.value() + SUFFIX);
    }

    /**
     * The stored instance, or empty if there is none.
     *
     * @throws CorruptStateException if a file exists but cannot be authenticated or parsed
     */
    public Optional<InstanceRecord> load(Uuid uuid) throws CorruptStateException {
        Optional<InstanceRecord> found = read(uuid);
        if (found.isEmpty()) {
            return found;
        }
        long generation = found.get().generation();
        Optional<GenerationAnchor.Mark> mark;
        try {
            mark = anchor.markOf(uuid);
        } catch (IOException e) {
            throw new CorruptStateException(uuid, anchor.file(), "(its generation anchor) cannot be read: " + e.getMessage());
        }
        if (mark.isPresent() && (mark.get().retired() || generation < mark.get().generation())) {
            throw new RolledBackStateException(uuid, fileOf(uuid), generation, mark.get().generation(), mark.get().retired(), anchor.file());
        }
        if (owner && (mark.isEmpty() || generation > mark.get().generation())) {
            try {
                raise(uuid, generation);
            } catch (IOException e) {
                throw new CorruptStateException(uuid, anchor.file(), "(its generation anchor) cannot be updated: " + e.getMessage());
            }
        }
        return found;
    }

    /** The record as the file holds it, authenticated, before the generation check. */
    private Optional<InstanceRecord> read(Uuid uuid) throws CorruptStateException {
        Path file = fileOf(uuid);
        byte[] sealed;
        try {
            if (!Files.exists(file)) {
                return Optional.empty();
            }
            sealed = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new CorruptStateException(uuid, file, "cannot be read: " + e.getMessage());
        }
        try {
            byte[] plain = Sealer.open(keyOf(uuid), context(uuid), sealed);
            InstanceRecord record = InstanceRecord.decode(plain);
            if (!record.uuid().equals(uuid)) {
                throw new CorruptStateException(uuid, file, "holds vTPM " + record.uuid());
            }
            return Optional.of(record);
        } catch (SealedDataException e) {
            throw new CorruptStateException(uuid, file, e.getMessage());
        } catch (IOException e) {
            throw new CorruptStateException(uuid, file, "authenticated but unreadable: " + e.getMessage());
        }
    }

    /**
     * Commits {@code record}: replaces the stored instance atomically (old or new after any crash), then
     * raises the uuid's mark (see the commit order in the class comment).
     *
     * @throws StaleGenerationException if its generation is not above the uuid's mark; nothing is written
     */
    public void save(InstanceRecord record) throws IOException {
        Uuid uuid = record.uuid();
        Optional<GenerationAnchor.Mark> mark = anchor.markOf(uuid);
        if (mark.isPresent() && record.generation() <= mark.get().generation()) {
            throw new StaleGenerationException("refusing to save generation " + record.generation() + " of vTPM " + uuid
                    + ": this host has " + (mark.get().retired() ? "deleted it at" : "committed") + " generation "
                    + mark.get().generation() + " (generation anchor " + anchor.file() + "); nothing was written");
        }
        AtomicFiles.write(fileOf(uuid), Sealer.seal(keyOf(uuid), context(uuid), record.encode()), AtomicFiles.OWNER_ONLY);
        raise(uuid, record.generation());
    }

    /**
     * Stores a newly manufactured vTPM (end NEW) unless its uuid is stored. Check, write and mark happen under the
     * anchor's lock (commit order as above): of a daemon's first start and a {@code vtpmback create} of one uuid at
     * once, one stores and the other is refused. Generation: 1, or past the mark of a deleted vTPM of that uuid.
     *
     * @return the record as stored
     * @throws AlreadyStoredException if a record of {@code uuid} exists; nothing is written
     */
    public InstanceRecord create(Uuid uuid, TpmFamily family, byte[] permanent) throws IOException {
        return anchor.update(marks -> {
            if (Files.exists(fileOf(uuid))) {
                throw new AlreadyStoredException(uuid, fileOf(uuid));
            }
            long generation = Optional.ofNullable(marks.get(uuid)).map(GenerationAnchor.Mark::generation).orElse(0L) + 1;
            InstanceRecord made = new InstanceRecord(uuid, family, Instant.now(), generation, InstanceRecord.EndKind.NEW, permanent,
                    Optional.empty());
            AtomicFiles.write(fileOf(uuid), Sealer.seal(keyOf(uuid), context(uuid), made.encode()), AtomicFiles.OWNER_ONLY);
            marks.put(uuid, new GenerationAnchor.Mark(generation, false));
            return made;
        });
    }

    /** The generation a new record of {@code uuid} gets: above anything this host committed for it (1 if nothing). */
    public long nextGeneration(Uuid uuid) throws IOException {
        return anchor.markOf(uuid).map(GenerationAnchor.Mark::generation).orElse(0L) + 1;
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
        Uuid uuid = record.uuid();
        long committed = anchor.markOf(uuid).map(GenerationAnchor.Mark::generation).orElse(0L);
        try {
            committed = Math.max(committed, read(uuid).map(InstanceRecord::generation).orElse(0L));
        } catch (CorruptStateException e) {
            // an unreadable stored file is being replaced; the mark alone says what was committed
        }
        if (record.generation() < committed && !allowRollback) {
            throw new StaleGenerationException("vTPM " + uuid + ": the bundle holds generation " + record.generation()
                    + ", older than generation " + committed + " that this host has committed (" + fileOf(uuid)
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
        Path file = fileOf(uuid);
        long last;
        try {
            last = read(uuid).map(InstanceRecord::generation).orElse(0L);
        } catch (CorruptStateException e) {
            last = 0; // deleting an unreadable record: the mark says what was committed
        }
        long recordGeneration = last;
        boolean exists = Files.exists(file);
        long retiredAt = anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            if (m == null && !exists) {
                return -1L;
            }
            long at = Math.max(recordGeneration, m == null ? 0 : m.generation());
            marks.put(uuid, new GenerationAnchor.Mark(at, true));
            return at;
        });
        boolean deleted = AtomicFiles.delete(file);
        forgetKey(uuid);
        if (retiredAt >= 0) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: deleted; its generation mark is retired at generation {1} (a copy"
                    + " put back is refused; a new vTPM of this uuid starts at generation {2})", uuid, retiredAt, retiredAt + 1);
        }
        return deleted;
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
        Optional<InstanceRecord> found = load(uuid);
        long generation = found.map(InstanceRecord::generation).orElse(Long.MAX_VALUE);
        boolean taken = found.isPresent() && anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            if (m != null && (m.retired() || m.generation() > generation)) {
                return false; // another took it since the load
            }
            marks.put(uuid, new GenerationAnchor.Mark(generation, true));
            return true;
        });
        AtomicFiles.delete(fileOf(uuid));
        forgetKey(uuid);
        return taken ? found : Optional.empty();
    }

    /** The host's generation anchor file (high-water marks of all uuids). */
    public Path anchorFile() {
        return anchor.file();
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

    /** The uuids of all stored instances. */
    public List<Uuid> list() {
        List<Uuid> out = new ArrayList<>();
        try (var files = Files.list(dir)) {
            files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(SUFFIX))
                    .map(n -> n.substring(0, n.length() - SUFFIX.length()))
                    .filter(Uuid::isCanonical)
                    .map(Uuid::new)
                    .sorted()
                    .forEach(out::add);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
        return out;
    }

    public Path dir() {
        return dir;
    }

    MasterKey masterKey() {
        return masterKey;
    }

    private SealingKey keyOf(Uuid uuid) {
        if (closed) {
            throw new IllegalStateException("the vTPM store " + dir + " is closed");
        }
        return keys.computeIfAbsent(uuid, u -> masterKey.sealingKey(u.value(), PURPOSE));
    }

    /**
     * A uuid whose record is gone drops its key from the cache (the pool's store sees many uuids come and go). Not
     * wiped here: another thread may still be using it; it goes with the garbage, like the cipher's own copies.
     */
    private void forgetKey(Uuid uuid) {
        keys.remove(uuid);
    }

    /**
     * Wipes the keys this store derived (each uuid's and the anchor's). Call it once nothing uses the store any
     * more: a save or load that runs after it fails.
     */
    @Override
    public void close() {
        closed = true;
        keys.values().forEach(SealingKey::destroy);
        keys.clear();
        anchor.close();
    }

    /** Associated data: the file belongs to this uuid and this role. */
    private static String context(Uuid uuid) {
        return "vtpmback instance " + uuid.value();
    }
}
