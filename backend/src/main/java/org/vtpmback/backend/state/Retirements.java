package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Taking a vTPM out of the store for good: {@link InstanceStore#delete} and {@link InstanceStore#take}. Both retire
 * the uuid's mark under the anchor's lock before the file goes, so no copy of it loads again, and a new vTPM of the
 * uuid starts above it; the commit log's entries of the uuid are dead from then on. Thread-safe.
 */
final class Retirements {
    private static final System.Logger LOG = System.getLogger(InstanceStore.class.getName()); // logs as the store

    private final RecordFiles files;
    private final GenerationAnchor anchor;
    private final StoredRecords records;
    /** The daemon's, or null (a second process has no commit log to forget entries in). */
    private final Checkpoints checkpoints;

    Retirements(RecordFiles files, GenerationAnchor anchor, StoredRecords records, Checkpoints checkpoints) {
        this.files = files;
        this.anchor = anchor;
        this.records = records;
        this.checkpoints = checkpoints;
    }

    /** See {@link InstanceStore#delete}. */
    boolean delete(Uuid uuid) throws IOException {
        Path file = files.fileOf(uuid);
        long last;
        try {
            last = records.newest(uuid).map(InstanceRecord::generation).orElse(0L);
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
        forgetLogged(uuid);
        files.forgetKey(uuid);
        if (retiredAt >= 0) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: deleted; its generation mark is retired at generation {1} (a copy"
                    + " put back is refused; a new vTPM of this uuid starts at generation {2})", uuid, retiredAt, retiredAt + 1);
        }
        return deleted;
    }

    /** See {@link InstanceStore#take}. */
    Optional<InstanceRecord> take(Uuid uuid) throws CorruptStateException, IOException {
        Optional<InstanceRecord> found = records.load(uuid);
        long generation = found.map(InstanceRecord::generation).orElse(Long.MAX_VALUE);
        boolean taken = found.isPresent() && anchor.update(marks -> {
            GenerationAnchor.Mark m = marks.get(uuid);
            if (m != null && (m.retired() || m.generation() > generation)) {
                return false; // another took it since the load
            }
            marks.put(uuid, new GenerationAnchor.Mark(generation, true));
            return true;
        });
        AtomicFiles.delete(files.fileOf(uuid));
        if (taken) {
            forgetLogged(uuid);
        }
        files.forgetKey(uuid);
        return taken ? found : Optional.empty();
    }

    /** A retired mark makes the vTPM's log entries dead: the daemon stops carrying them. */
    private void forgetLogged(Uuid uuid) {
        if (checkpoints != null) {
            checkpoints.saved(uuid, Long.MAX_VALUE);
        }
    }
}
