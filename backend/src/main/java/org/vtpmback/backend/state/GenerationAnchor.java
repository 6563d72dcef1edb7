package org.vtpmback.backend.state;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The host's generation anchor: for every vTPM uuid, the highest record generation this host has
 * committed (its high-water mark), or the generation it was deleted at. One file beside the records,
 * {@code <instances>/generations.anchor}, sealed with a key derived from the master key and replaced
 * atomically like a record, so it can be neither read nor forged without the master key. A record
 * older than its mark was put back (rolled back or replayed) and is refused by {@link InstanceStore}.
 *
 * <p>Writers (the daemon's device threads, the {@code vtpmback} commands in another process) take an
 * exclusive lock on {@code generations.lock} and re-read the file under it, so no update is lost.
 * Readers need no lock: the file is only ever replaced by a rename. Thread-safe.
 */
final class GenerationAnchor {
    static final String FILE = "generations.anchor";
    static final String LOCK = "generations.lock";
    private static final int FORMAT = 1;
    private static final String PURPOSE = "generation-anchor";
    /** No host keeps more vTPMs than this; a larger count is garbage, caught before allocating. */
    private static final int MAX_ENTRIES = 1 << 20;

    /** A uuid's mark: its highest committed generation, and whether it was deleted at that generation. */
    record Mark(long generation, boolean retired) {
    }

    /** Changes the marks under the lock; returns what the caller wants to know. */
    @FunctionalInterface
    interface Change<T> {
        T apply(Map<Uuid, Mark> marks) throws IOException;
    }

    private final Path file;
    private final Path lockFile;
    private final SealingKey key;
    private final Object threads = new Object();

    GenerationAnchor(Path dir, MasterKey masterKey) {
        this.file = dir.resolve(FILE);
        this.lockFile = dir.resolve(LOCK);
        this.key = masterKey.sealingKey("host", PURPOSE);
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
        byte[] sealed;
        try {
            sealed = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return new TreeMap<>();
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
        synchronized (threads) { // a JVM holds a file lock for the whole process: threads queue here first
            try (FileChannel ch = FileChannel.open(lockFile, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(AtomicFiles.OWNER_ONLY));
                 FileLock ignored = ch.lock()) {
                Map<Uuid, Mark> marks = read();
                Map<Uuid, Mark> before = new TreeMap<>(marks);
                T result = change.apply(marks);
                if (!marks.equals(before)) {
                    AtomicFiles.write(file, Sealer.seal(key, context(), encode(marks)), AtomicFiles.OWNER_ONLY);
                }
                return result;
            }
        }
    }

    private static byte[] encode(Map<Uuid, Mark> marks) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(FORMAT);
            out.writeInt(marks.size());
            for (Map.Entry<Uuid, Mark> e : new TreeMap<>(marks).entrySet()) {
                out.writeUTF(e.getKey().value());
                out.writeLong(e.getValue().generation());
                out.writeBoolean(e.getValue().retired());
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("encoding to memory failed", e);
        }
    }

    private Map<Uuid, Mark> decode(byte[] plain) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(plain));
        try {
            int format = in.readInt();
            if (format != FORMAT) {
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
            if (in.available() != 0) {
                throw new IOException("generation anchor " + file + ": " + in.available() + " trailing bytes");
            }
            return marks;
        } catch (IllegalArgumentException | java.io.EOFException e) {
            throw new IOException("generation anchor " + file + " authenticated but unreadable: " + e.getMessage(), e);
        }
    }

    private static String context() {
        return "vtpmback generation anchor";
    }
}
