package org.vtpmback.backend.state;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The host's generation anchor: for every vTPM uuid, the highest record generation this host has
 * committed (its high-water mark), or the generation it was deleted at. One file beside the records,
 * {@code <instances>/generations.anchor}, sealed with a key derived from the master key and replaced
 * atomically like a record, so it can be neither read nor forged without the master key. A record
 * older than its mark was put back (rolled back or replayed) and is refused by {@link InstanceStore}.
 *
 * <p>It also keeps the commit log's position at the daemon's last fold ({@link LogPosition}): a log put
 * back to an older copy is refused at start (docs/reliability.md, "Checkpoints"). Format 1 (marks only)
 * is written until a log was ever used, so an older vtpmback keeps reading an anchor of a host that never
 * checkpointed through a log; format 2 adds the position.
 *
 * <p>Writers (the daemon's device threads, the {@code vtpmback} commands in another process) take an
 * exclusive lock on {@code generations.lock} and re-read the file under it, so no update is lost.
 * Readers need no lock: the file is only ever replaced by a rename, so a reader re-reads and re-opens
 * it only when its identity, size or modification time changed. Thread-safe.
 */
final class GenerationAnchor {
    static final String FILE = "generations.anchor";
    static final String LOCK = "generations.lock";
    private static final int FORMAT_MARKS = 1;
    private static final int FORMAT_MARKS_AND_LOG = 2;
    private static final String PURPOSE = "generation-anchor";
    /** No host keeps more vTPMs than this; a larger count is garbage, caught before allocating. */
    private static final int MAX_ENTRIES = 1 << 20;

    /** A uuid's mark: its highest committed generation, and whether it was deleted at that generation. */
    record Mark(long generation, boolean retired) {
    }

    /**
     * Where the commit log stood at the daemon's last fold: epoch {@code sequence} held at least {@code length}
     * durable bytes. {@link #NONE} if no log was ever used.
     */
    record LogPosition(long sequence, long length) {
        static final LogPosition NONE = new LogPosition(0, 0);
    }

    /** What the anchor holds; {@code marks} is unmodifiable. */
    record Contents(Map<Uuid, Mark> marks, LogPosition log) {
    }

    /** Changes the marks (and, through {@link #update(Change, java.util.function.UnaryOperator)}, the position) under the lock. */
    @FunctionalInterface
    interface Change<T> {
        T apply(Map<Uuid, Mark> marks) throws IOException;
    }

    private record Cached(Object fileKey, long size, java.time.Instant modified, Contents contents) {
    }

    private final Path file;
    private final Path lockFile;
    private final SealingKey key;
    private final Object threads = new Object();
    private volatile Cached cached;

    GenerationAnchor(Path dir, MasterKey masterKey) {
        this(dir.resolve(FILE), dir.resolve(LOCK), masterKey.sealingKey("host", PURPOSE));
    }

    /** Another set of marks kept the same way ({@link SealedMarks}): its own file, lock and key. */
    GenerationAnchor(Path file, Path lockFile, SealingKey key) {
        this.file = file;
        this.lockFile = lockFile;
        this.key = key;
    }

    Path file() {
        return file;
    }

    /** Wipes the anchor's key; the anchor is unusable afterwards. */
    void close() {
        key.destroy();
    }

    boolean exists() {
        return Files.exists(file);
    }

    /**
     * The marks as committed.
     *
     * @throws IOException if the file exists but cannot be read, opened with this host's key, or parsed
     */
    Map<Uuid, Mark> read() throws IOException {
        return contents().marks();
    }

    /** Marks and log position as committed; re-read only when the file changed (one stat otherwise). */
    Contents contents() throws IOException {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return new Contents(Map.of(), LogPosition.NONE);
        }
        Cached c = cached;
        if (c != null && Objects.equals(c.fileKey(), a.fileKey()) && c.size() == a.size()
                && c.modified().equals(a.lastModifiedTime().toInstant())) {
            return c.contents();
        }
        Contents fresh = load();
        if (fresh == null) {
            return new Contents(Map.of(), LogPosition.NONE);
        }
        // Keyed by what was stat'ed before the read: a replacement in between only costs one more read later.
        cached = new Cached(a.fileKey(), a.size(), a.lastModifiedTime().toInstant(), fresh);
        return fresh;
    }

    /** Reads and opens the file; null if it does not exist. */
    private Contents load() throws IOException {
        byte[] sealed;
        try {
            sealed = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return null;
        }
        byte[] plain;
        try {
            plain = Sealer.open(key, context(), sealed);
        } catch (SealedDataException e) {
            throw new IOException("generation anchor " + file + ": " + e.getMessage());
        }
        return decode(plain);
    }

    Optional<Mark> markOf(Uuid uuid) throws IOException {
        return Optional.ofNullable(read().get(uuid));
    }

    /**
     * Applies {@code change} to the current marks and commits them durably (temp file, fsync, rename,
     * fsync folder), holding the lock so that no other writer's update is lost.
     */
    <T> T update(Change<T> change) throws IOException {
        return update(change, p -> p);
    }

    /** {@link #update(Change)} that also moves the log position (the daemon's folds). */
    <T> T update(Change<T> change, java.util.function.UnaryOperator<LogPosition> position) throws IOException {
        synchronized (threads) { // a JVM holds a file lock for the whole process: threads queue here first
            try (FileChannel ch = FileChannel.open(lockFile, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(AtomicFiles.OWNER_ONLY));
                 FileLock ignored = ch.lock()) {
                Contents now = Objects.requireNonNullElse(load(), new Contents(Map.of(), LogPosition.NONE));
                Map<Uuid, Mark> marks = new TreeMap<>(now.marks());
                T result = change.apply(marks);
                LogPosition log = position.apply(now.log());
                if (!marks.equals(now.marks()) || !log.equals(now.log())) {
                    AtomicFiles.write(file, Sealer.seal(key, context(), encode(marks, log)), AtomicFiles.OWNER_ONLY);
                }
                return result;
            }
        }
    }

    private static byte[] encode(Map<Uuid, Mark> marks, LogPosition log) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            boolean withLog = !log.equals(LogPosition.NONE);
            out.writeInt(withLog ? FORMAT_MARKS_AND_LOG : FORMAT_MARKS);
            out.writeInt(marks.size());
            for (Map.Entry<Uuid, Mark> e : new TreeMap<>(marks).entrySet()) {
                out.writeUTF(e.getKey().value());
                out.writeLong(e.getValue().generation());
                out.writeBoolean(e.getValue().retired());
            }
            if (withLog) {
                out.writeLong(log.sequence());
                out.writeLong(log.length());
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("encoding to memory failed", e);
        }
    }

    private Contents decode(byte[] plain) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(plain));
        try {
            int format = in.readInt();
            if (format != FORMAT_MARKS && format != FORMAT_MARKS_AND_LOG) {
                throw new IOException("generation anchor " + file + ": unknown format " + format);
            }
            int n = in.readInt();
            if (n < 0 || n > MAX_ENTRIES) {
                throw new IOException("generation anchor " + file + ": " + n + " entries is out of range");
            }
            Map<Uuid, Mark> marks = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                marks.put(new Uuid(in.readUTF()), new Mark(in.readLong(), in.readBoolean()));
            }
            LogPosition log = format == FORMAT_MARKS ? LogPosition.NONE : new LogPosition(in.readLong(), in.readLong());
            if (in.available() != 0) {
                throw new IOException("generation anchor " + file + ": " + in.available() + " trailing bytes");
            }
            return new Contents(Collections.unmodifiableMap(marks), log);
        } catch (IllegalArgumentException | java.io.EOFException e) {
            throw new IOException("generation anchor " + file + " authenticated but unreadable: " + e.getMessage(), e);
        }
    }

    private static String context() {
        return "vtpmback generation anchor";
    }
}
