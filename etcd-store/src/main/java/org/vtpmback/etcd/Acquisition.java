package org.vtpmback.etcd;

import java.util.Optional;
import org.vtpmback.backend.state.Uuid;

/**
 * This host now owns a vTPM: its owner key names this host with this host's lease. Immutable.
 *
 * @param uuid          the vTPM
 * @param ownerRevision the etcd revision at which this host became owner
 * @param record        the record at that moment (read in the same txn), empty for a new vTPM; its
 *                      {@link StoredRecord#modRevision} (0 if empty) is what the first commit expects
 */
public record Acquisition(Uuid uuid, long ownerRevision, Optional<StoredRecord> record) {
    /** The {@code expectedModRevision} of the first commit after this acquisition. */
    public long recordRevision() {
        return record.map(StoredRecord::modRevision).orElse(0L);
    }
}
