package org.vtpmback.backend.state;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The encrypted, crash-safe store of vTPM instances: one sealed file per uuid,
 * {@code <dir>/<uuid>.vtpm}, replaced atomically on every save. Nothing of a vTPM is on disk in
 * plaintext. A file that fails to open is never replaced by a fresh TPM: the instance refuses to start
 * until an operator acts (re-manufacturing silently is how the Xen 3.x and mini-os stacks lost keys).
 *
 * <p>Thread-safe for different uuids; the caller holds the instance's lease for writes to one uuid.
 */
public final class InstanceStore {
    public static final String SUFFIX = ".vtpm";
    private static final String PURPOSE = "instance-state";

    private final Path dir;
    private final MasterKey masterKey;

    /** The daemon's store: it owns the folder, so temp files a crash left behind are removed. */
    public InstanceStore(Path dir, MasterKey masterKey) throws IOException {
        this(dir, masterKey, true);
    }

    private InstanceStore(Path dir, MasterKey masterKey, boolean owner) throws IOException {
        this.dir = AtomicFiles.createPrivateDirectory(dir);
        this.masterKey = masterKey;
        if (owner) {
            AtomicFiles.removeLeftovers(dir);
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

    /** Replaces the stored instance atomically (old or new after any crash). */
    public void save(InstanceRecord record) throws IOException {
        Uuid uuid = record.uuid();
        AtomicFiles.write(fileOf(uuid), Sealer.seal(keyOf(uuid), context(uuid), record.encode()), AtomicFiles.OWNER_ONLY);
    }

    public boolean delete(Uuid uuid) throws IOException {
        return AtomicFiles.delete(fileOf(uuid));
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

    private byte[] keyOf(Uuid uuid) {
        return masterKey.derive(uuid.value(), PURPOSE);
    }

    /** Associated data: the file belongs to this uuid and this role. */
    private static String context(Uuid uuid) {
        return "vtpmback instance " + uuid.value();
    }
}
