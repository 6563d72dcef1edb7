package org.vtpmback.etcd;

import org.vtpmback.backend.state.Uuid;

/**
 * etcd holds an older record of a vTPM than this host has committed (its revision is below this host's
 * mark, or the record is gone): the store was rolled back, e.g. restored from an older etcd snapshot.
 * Starting it would turn the TPM's NV counters and lockout back, so it is refused; nothing was changed.
 */
public final class RolledBackRecordException extends EtcdStoreException {
    private static final long serialVersionUID = 1L;

    private final transient Uuid uuid;
    private final long foundRevision;
    private final long committedRevision;

    RolledBackRecordException(Uuid uuid, long foundRevision, long committedRevision) {
        super("etcd holds vTPM " + uuid + "'s record at revision " + foundRevision
                + (foundRevision == 0 ? " (no record)" : "")
                + ", but this host committed revision " + committedRevision + " of it: the store was rolled back"
                + " (restored from an older snapshot?); refusing it, nothing was changed (restore the newer data,"
                + " or clear this host's mark on purpose)");
        this.uuid = uuid;
        this.foundRevision = foundRevision;
        this.committedRevision = committedRevision;
    }

    public Uuid uuid() {
        return uuid;
    }

    /** The revision etcd holds (0: no record). */
    public long foundRevision() {
        return foundRevision;
    }

    /** The highest revision this host committed. */
    public long committedRevision() {
        return committedRevision;
    }
}
