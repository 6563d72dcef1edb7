package org.vtpmback.etcd;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.vtpmback.backend.state.Uuid;

/**
 * This host's high-water marks: for every vTPM, the highest etcd revision at which this host committed
 * its record. etcd's revisions only grow, so a record found at a lower revision (or missing) was put
 * back by a restore of the store, and is refused: a TPM must never go back (NV counters, lockout).
 *
 * <p>The marks live in memory; the caller persists {@link #marks()} (e.g. beside the local generation
 * anchor) and passes them back at start, so that a restart does not forget them. Thread-safe.
 */
public final class RevisionGuard {
    private final Map<Uuid, Long> marks = new ConcurrentHashMap<>();

    public RevisionGuard() {
    }

    /** Starts from marks saved earlier ({@link #marks()}). */
    public RevisionGuard(Map<Uuid, Long> saved) {
        marks.putAll(saved);
    }

    /** The highest revision this host committed for {@code uuid}; 0 if none. */
    public long mark(Uuid uuid) {
        return marks.getOrDefault(uuid, 0L);
    }

    /**
     * Refuses a record of {@code uuid} found at {@code revision} (0: no record) if this host committed a
     * later one.
     */
    public void check(Uuid uuid, long revision) throws RolledBackRecordException {
        long mark = mark(uuid);
        if (revision < mark) {
            throw new RolledBackRecordException(uuid, revision, mark);
        }
    }

    /** This host committed {@code uuid}'s record at {@code revision}; never lowers the mark. */
    public void raise(Uuid uuid, long revision) {
        marks.merge(uuid, revision, Math::max);
    }

    /** Drops the mark of a vTPM deleted on purpose, so that a new one with the same uuid is accepted. */
    public void forget(Uuid uuid) {
        marks.remove(uuid);
    }

    /** All marks, sorted by uuid: what the caller persists. */
    public Map<Uuid, Long> marks() {
        return new TreeMap<>(marks);
    }
}
