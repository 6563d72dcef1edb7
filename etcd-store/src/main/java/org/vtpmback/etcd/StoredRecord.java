package org.vtpmback.etcd;

import org.vtpmback.backend.state.Uuid;

/**
 * A vTPM's record as etcd holds it: sealed bytes (opaque here) and the revision of its last change, the
 * {@code expectedModRevision} of the next commit. The array is not copied: callers must not change it.
 *
 * @param uuid        the vTPM
 * @param sealed      the record, sealed by the caller (AES-256-GCM)
 * @param modRevision the etcd revision at which it was written
 */
public record StoredRecord(Uuid uuid, byte[] sealed, long modRevision) {
    @Override
    public String toString() {
        return "record of " + uuid + " at revision " + modRevision + " (" + sealed.length + " bytes)";
    }
}
