package org.vtpmback.etcd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.vtpmback.backend.state.Uuid;

/**
 * One host's view of the pool's records on etcd: it owns a vTPM while the owner key names it with its
 * {@link HostLease}, and every write is one txn that checks that ownership and the record's revision, so
 * a host that lost ownership (to a take-over, a lease expiry or a revocation) writes nothing.
 *
 * <p>Writes are safe to repeat: a sealed record is unique (AES-GCM with a random nonce), so when a txn
 * fails its compares but the record holds exactly the bytes being written, an earlier try of the same
 * write (whose answer was lost on a member that failed) was applied, and that counts as success.
 *
 * <p>Once a commit of a vTPM is refused, this host never writes it again until it re-acquires it.
 * Thread-safe: device threads may commit different vTPMs at once.
 */
public final class PoolRecordStore {
    private static final String TXN = "/v3/kv/txn";

    private final EtcdGateway gateway;
    private final HostId host;
    private final HostLease lease;
    private final RevisionGuard guard;
    private final KeyLayout keys;
    private final Set<Uuid> fenced = ConcurrentHashMap.newKeySet();

    public PoolRecordStore(EtcdGateway gateway, HostId host, HostLease lease, RevisionGuard guard) {
        this.gateway = gateway;
        this.host = host;
        this.lease = lease;
        this.guard = guard;
        this.keys = new KeyLayout(gateway.settings().prefix());
    }

    public HostId host() {
        return host;
    }

    public HostLease lease() {
        return lease;
    }

    /**
     * Takes ownership of {@code uuid}: creates its owner key with this host's lease if there is none, or
     * re-attaches it to this host's lease if it already names this host (the daemon's own take-over after
     * a restart). Returns the record as it was when ownership was taken.
     *
     * @throws OwnedElsewhereException   if another host owns it
     * @throws FencedException           if this host's lease is no longer valid
     * @throws RolledBackRecordException if the record is older than what this host committed
     */
    public Acquisition acquire(Uuid uuid) throws EtcdStoreException, InterruptedIOException {
        requireLease(uuid);
        byte[] owner = keys.owner(uuid);
        byte[] me = host.value().getBytes(StandardCharsets.UTF_8);
        List<Map<String, Object>> take = List.of(TxnOps.put(owner, me, lease.id()), TxnOps.range(keys.record(uuid)));
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(List.of(TxnOps.absent(owner)), take, List.of(TxnOps.range(owner))));
        if (!reply.succeeded()) {
            Optional<KeyValue> current = single(reply, 0);
            if (current.isPresent() && !Arrays.equals(current.get().value(), me)) {
                throw new OwnedElsewhereException(uuid, host, hostOf(current.get()));
            }
            // Mine (an earlier lease of this host) or gone since: take it if it has not changed meanwhile.
            long seen = current.map(KeyValue::modRevision).orElse(0L);
            reply = gateway.call(TXN, TxnOps.txn(List.of(TxnOps.modRevisionIs(owner, seen)), take, List.of(TxnOps.range(owner))));
            if (!reply.succeeded()) {
                Optional<KeyValue> now = single(reply, 0);
                throw now.isPresent() && !Arrays.equals(now.get().value(), me)
                        ? new OwnedElsewhereException(uuid, host, hostOf(now.get()))
                        : new EtcdStoreException("the owner key of vTPM " + uuid + " changed twice while host " + host
                                + " took it; try again");
            }
        }
        Optional<StoredRecord> record = single(reply, 1).map(kv -> new StoredRecord(uuid, kv.value(), kv.modRevision()));
        checkNotRolledBack(uuid, record);
        fenced.remove(uuid);
        return new Acquisition(uuid, revision(reply), record);
    }

    /**
     * Writes {@code sealed} as {@code uuid}'s record in one txn that checks that this host owns it with
     * its lease and that the record is still at {@code expectedModRevision} (0: no record yet).
     *
     * @return the record's new revision (the next commit's expected revision)
     * @throws FencedException if a check failed or the lease is no longer valid; nothing was written
     */
    public long commit(Uuid uuid, byte[] sealed, long expectedModRevision) throws EtcdStoreException, InterruptedIOException {
        return write(uuid, sealed, expectedModRevision, false);
    }

    /**
     * Writes {@code sealed} (the record holding the suspend snapshot) and deletes the owner key in one txn,
     * with the same checks as {@link #commit}: the vTPM is then free for the host that resumes it.
     *
     * @return the record's new revision
     */
    public long releaseWithSnapshot(Uuid uuid, byte[] sealed, long expectedModRevision)
            throws EtcdStoreException, InterruptedIOException {
        return write(uuid, sealed, expectedModRevision, true);
    }

    private long write(Uuid uuid, byte[] sealed, long expected, boolean release) throws EtcdStoreException, InterruptedIOException {
        if (fenced.contains(uuid)) {
            throw fencedBy(uuid, FencedException.Reason.FENCED_BEFORE, Optional.empty(), "");
        }
        requireLease(uuid);
        byte[] owner = keys.owner(uuid);
        byte[] record = keys.record(uuid);
        List<Map<String, Object>> compare = List.of(
                TxnOps.valueIs(owner, host.value().getBytes(StandardCharsets.UTF_8)),
                TxnOps.leaseIs(owner, lease.id()),
                TxnOps.modRevisionIs(record, expected));
        List<Map<String, Object>> success = release
                ? List.of(TxnOps.put(record, sealed, 0), TxnOps.delete(owner))
                : List.of(TxnOps.put(record, sealed, 0));
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(compare, success, List.of(TxnOps.range(owner), TxnOps.range(record))));
        long revision;
        if (reply.succeeded()) {
            revision = revision(reply);
        } else {
            Optional<KeyValue> stored = single(reply, 1);
            if (stored.isEmpty() || !Arrays.equals(stored.get().value(), sealed)) {
                throw refused(uuid, single(reply, 0), stored, expected);
            }
            revision = stored.get().modRevision(); // an earlier try of this very write was applied
        }
        guard.raise(uuid, revision);
        return revision;
    }

    private FencedException refused(Uuid uuid, Optional<KeyValue> owner, Optional<KeyValue> stored, long expected) {
        fenced.add(uuid);
        boolean mine = owner.isPresent() && owner.get().valueText().equals(host.value()) && owner.get().lease() == lease.id();
        Optional<HostId> named = owner.map(this::hostOfQuietly).flatMap(o -> o);
        if (mine) {
            return fencedBy(uuid, FencedException.Reason.REVISION_MOVED, named, "expected revision " + expected
                    + ", found " + stored.map(KeyValue::modRevision).orElse(0L));
        }
        Optional<FencedException.Reason> leaseLost = lease.fencedReason();
        return fencedBy(uuid, leaseLost.orElse(FencedException.Reason.OWNER_CHANGED), named,
                owner.map(kv -> "owner key at lease " + Long.toHexString(kv.lease()) + ", this host's lease is "
                        + Long.toHexString(lease.id())).orElse("owner key gone"));
    }

    /**
     * Lets {@code uuid} go without writing its record: deletes the owner key if it still names this host with its
     * lease (a start that failed, a teardown that saved nothing). Another host's key is left alone.
     *
     * @return whether this host held it
     */
    public boolean release(Uuid uuid) throws EtcdStoreException, InterruptedIOException {
        byte[] owner = keys.owner(uuid);
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(
                List.of(TxnOps.valueIs(owner, host.value().getBytes(StandardCharsets.UTF_8)), TxnOps.leaseIs(owner, lease.id())),
                List.of(TxnOps.delete(owner)), List.of()));
        return reply.succeeded();
    }

    /**
     * The record of {@code uuid} (a linearizable read), or empty if there is none.
     *
     * @throws RolledBackRecordException if it is older than what this host committed
     */
    public Optional<StoredRecord> read(Uuid uuid) throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call("/v3/kv/range", TxnOps.rangeRequest(keys.record(uuid)));
        Optional<StoredRecord> record;
        try {
            record = GatewayReply.single(reply.keyValues()).map(kv -> new StoredRecord(uuid, kv.value(), kv.modRevision()));
        } catch (IOException e) {
            throw unreadable(e);
        }
        checkNotRolledBack(uuid, record);
        return record;
    }

    /**
     * Refuses {@code record} if this host committed a later one. A missing record is refused only when this host
     * committed the uuid and no deletion ({@code vtpmback delete}, {@link PoolAdmin#deleteIfUnowned}) came after:
     * its deletion key's revision stands for the missing record. The key is read only in that rare case.
     */
    private void checkNotRolledBack(Uuid uuid, Optional<StoredRecord> record) throws EtcdStoreException, InterruptedIOException {
        long seen;
        if (record.isPresent()) {
            seen = record.get().modRevision();
        } else if (guard.mark(uuid) == 0) {
            seen = 0;
        } else {
            GatewayReply reply = gateway.call("/v3/kv/range", TxnOps.rangeRequest(keys.deleted(uuid)));
            try {
                seen = GatewayReply.single(reply.keyValues()).map(KeyValue::modRevision).orElse(0L);
            } catch (IOException e) {
                throw unreadable(e);
            }
        }
        guard.check(uuid, seen);
    }

    /** The host that owns {@code uuid} now, or empty if none does. */
    public Optional<HostId> owner(Uuid uuid) throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call("/v3/kv/range", TxnOps.rangeRequest(keys.owner(uuid)));
        try {
            Optional<KeyValue> kv = GatewayReply.single(reply.keyValues());
            return kv.isEmpty() ? Optional.empty() : Optional.of(hostOf(kv.get()));
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    private void requireLease(Uuid uuid) throws FencedException {
        Optional<FencedException.Reason> reason = lease.fencedReason();
        if (reason.isPresent()) {
            throw fencedBy(uuid, reason.get(), Optional.empty(), "lease " + Long.toHexString(lease.id()));
        }
    }

    private FencedException fencedBy(Uuid uuid, FencedException.Reason reason, Optional<HostId> owner, String detail) {
        return new FencedException(uuid, host, owner, reason, detail);
    }

    private static Optional<KeyValue> single(GatewayReply reply, int response) throws EtcdStoreException {
        try {
            return GatewayReply.single(reply.rangeResponse(response));
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    private static long revision(GatewayReply reply) throws EtcdStoreException {
        try {
            return reply.revision();
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    private static HostId hostOf(KeyValue owner) throws EtcdStoreException {
        try {
            return new HostId(owner.valueText());
        } catch (IllegalArgumentException e) {
            throw new EtcdStoreException("the owner key " + new String(owner.key(), StandardCharsets.UTF_8)
                    + " holds no host name: " + e.getMessage() + " (was it written by something else than vtpmback?)", e);
        }
    }

    private Optional<HostId> hostOfQuietly(KeyValue owner) {
        try {
            return Optional.of(hostOf(owner));
        } catch (EtcdStoreException e) {
            return Optional.empty();
        }
    }

    private static EtcdStoreException unreadable(IOException e) {
        return new EtcdStoreException("etcd's reply is not what its v3 API documents: " + e.getMessage(), e);
    }
}
