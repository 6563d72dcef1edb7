package org.vtpmback.etcd;

import java.util.Optional;
import org.vtpmback.backend.state.Uuid;

/**
 * This host may no longer write a vTPM's record: another host owns it now, or this host's lease is gone,
 * or the record changed behind its back. Nothing was written. The host must stop the vTPM's
 * state-changing commands (TPM error responses) and never write its record again; only a new
 * {@link PoolRecordStore#acquire} (after reading the current record) can give it back.
 */
public final class FencedException extends EtcdStoreException {
    private static final long serialVersionUID = 1L;

    /** Why the host is fenced. */
    public enum Reason {
        /** The host's own deadline passed: its lease may have expired on etcd (no keep-alive got through in time). */
        LEASE_EXPIRED("this host's lease deadline passed without a successful keep-alive (partition or long pause)"),
        /** etcd answered that the lease does not exist (expired or revoked). */
        LEASE_GONE("etcd no longer knows this host's lease (expired or revoked)"),
        /** The owner key is missing or names another host or another lease. */
        OWNER_CHANGED("the owner key no longer names this host with its lease"),
        /** The owner key is this host's, but the record is not at the revision this host last read or wrote. */
        REVISION_MOVED("the record is not at the revision this host expected"),
        /** An earlier commit of this vTPM was refused; this host never writes it again until it re-acquires. */
        FENCED_BEFORE("this host was fenced from this vTPM earlier and has not re-acquired it");

        private final String text;

        Reason(String text) {
            this.text = text;
        }

        /** The reason as a sentence fragment for logs. */
        public String text() {
            return text;
        }
    }

    private final transient Uuid uuid;
    private final transient HostId host;
    private final transient Optional<HostId> owner;
    private final Reason reason;

    FencedException(Uuid uuid, HostId host, Optional<HostId> owner, Reason reason, String detail) {
        super("host " + host + " is fenced from vTPM " + uuid + ": " + reason.text()
                + owner.map(o -> "; its owner is now host " + o).orElse("; it has no owner now")
                + (detail.isEmpty() ? "" : " (" + detail + ")")
                + "; nothing was written: stop the vTPM here, it may run only on its owner");
        this.uuid = uuid;
        this.host = host;
        this.owner = owner;
        this.reason = reason;
    }

    /** The vTPM. */
    public Uuid uuid() {
        return uuid;
    }

    /** This host (the one fenced). */
    public HostId host() {
        return host;
    }

    /** The owner etcd named when the write was refused, if any was readable. */
    public Optional<HostId> owner() {
        return owner;
    }

    public Reason reason() {
        return reason;
    }
}
