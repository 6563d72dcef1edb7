package org.vtpmback.backend.state;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The record files of one store folder, {@code <dir>/<uuid>.vtpm}, and the per-uuid keys that seal them (and the
 * uuid's commit-log entries): each derived from the master key once (HKDF costs about as much as sealing a record
 * with AES-NI) and kept until {@link #close}, which wipes them. Reading and sealing only; what is written when is
 * {@link InstanceStore}'s. Thread-safe.
 */
final class RecordFiles {
    private final Path dir;
    private final RecordSealing sealing;

    RecordFiles(Path dir, MasterKey masterKey) {
        this.dir = dir;
        this.sealing = new RecordSealing(masterKey, dir.toString());
    }

    Path fileOf(Uuid uuid) {
        return dir.resolve(uuid.value() + InstanceStore.SUFFIX);
    }

    /** The record as its file holds it, authenticated, before any generation check; empty if there is no file. */
    Optional<InstanceRecord> read(Uuid uuid) throws CorruptStateException {
        Path file = fileOf(uuid);
        byte[] sealed;
        try {
            sealed = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new CorruptStateException(uuid, file, "cannot be read: " + e.getMessage());
        }
        return Optional.of(sealing.open(uuid, sealed, file.toString()));
    }

    /** The file's generation, or -1 if there is none or it does not open (a fold may replace it). */
    long generation(Uuid uuid) {
        try {
            return read(uuid).map(InstanceRecord::generation).orElse(-1L);
        } catch (CorruptStateException e) {
            return -1;
        }
    }

    /** {@code record} sealed as its file holds it. */
    byte[] seal(InstanceRecord record) {
        return sealing.seal(record);
    }

    /** The uuids of all record files. */
    List<Uuid> list() {
        List<Uuid> out = new ArrayList<>();
        try (var files = Files.list(dir)) {
            files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(InstanceStore.SUFFIX))
                    .map(n -> n.substring(0, n.length() - InstanceStore.SUFFIX.length()))
                    .filter(Uuid::isCanonical)
                    .map(Uuid::new)
                    .sorted()
                    .forEach(out::add);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
        return out;
    }

    SealingKey keyOf(Uuid uuid) {
        return sealing.keyOf(uuid);
    }

    /** See {@link RecordSealing#forgetKey}. */
    void forgetKey(Uuid uuid) {
        sealing.forgetKey(uuid);
    }

    /** Wipes every key derived; nothing is read or sealed afterwards. */
    void close() {
        sealing.close();
    }
}
