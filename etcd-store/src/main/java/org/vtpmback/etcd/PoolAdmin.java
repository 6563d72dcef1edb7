package org.vtpmback.etcd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.vtpmback.backend.state.Uuid;

/**
 * The operator's view of a pool ({@code vtpmback list}, {@code check}, {@code pool push|pull}): it reads every record
 * and owner key, and writes or deletes a record only while no host owns it. It holds no lease and owns nothing, so
 * every write is one txn that compares the owner key absent and the record's revision: a host that starts the vTPM
 * in between makes the write fail, never the host's commit. Thread-safe (stateless over the gateway).
 */
public final class PoolAdmin {
    private static final String TXN = "/v3/kv/txn";

    private final EtcdGateway gateway;
    private final KeyLayout keys;

    public PoolAdmin(EtcdGateway gateway) {
        this.gateway = gateway;
        this.keys = new KeyLayout(gateway.settings().prefix());
    }

    /** One vTPM of the pool: its record (if any) and the host owning it (if any). */
    public record Entry(Uuid uuid, Optional<StoredRecord> record, Optional<String> owner) {
    }

    /**
     * Every uuid that has a record or an owner key under the prefix, sorted; keys that name no uuid are skipped. Records
     * and owner keys are read in one txn, so they are of one revision.
     */
    public List<Entry> list() throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(List.of(), List.of(under("record"), under("owner")), List.of()));
        Map<String, StoredRecord> records = new TreeMap<>();
        Map<String, String> owners = new TreeMap<>();
        try {
            for (KeyValue kv : reply.rangeResponse(0)) {
                uuidOf(kv, "record").ifPresent(u -> records.put(u.value(), new StoredRecord(u, kv.value(), kv.modRevision())));
            }
            for (KeyValue kv : reply.rangeResponse(1)) {
                uuidOf(kv, "owner").ifPresent(u -> owners.put(u.value(), kv.valueText()));
            }
        } catch (IOException e) {
            throw unreadable(e);
        }
        TreeMap<String, Entry> all = new TreeMap<>();
        records.forEach((u, r) -> all.put(u, new Entry(r.uuid(), Optional.of(r), Optional.ofNullable(owners.get(u)))));
        owners.forEach((u, o) -> all.putIfAbsent(u, new Entry(new Uuid(u), Optional.empty(), Optional.of(o))));
        return new ArrayList<>(all.values());
    }

    /** The record and owner of one uuid, read in one txn (so they belong together). */
    public Entry entry(Uuid uuid) throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(List.of(),
                List.of(TxnOps.range(keys.record(uuid)), TxnOps.range(keys.owner(uuid))), List.of()));
        try {
            Optional<StoredRecord> record = GatewayReply.single(reply.rangeResponse(0))
                    .map(kv -> new StoredRecord(uuid, kv.value(), kv.modRevision()));
            return new Entry(uuid, record, GatewayReply.single(reply.rangeResponse(1)).map(KeyValue::valueText));
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /**
     * Writes {@code sealed} as {@code uuid}'s record if no host owns it and the record is still at
     * {@code expectedModRevision} (0: none).
     *
     * @return the record's new revision, or empty if a compare failed (nothing was written)
     */
    public Optional<Long> putIfUnowned(Uuid uuid, byte[] sealed, long expectedModRevision)
            throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call(TXN, TxnOps.txn(
                List.of(TxnOps.absent(keys.owner(uuid)), TxnOps.modRevisionIs(keys.record(uuid), expectedModRevision)),
                List.of(TxnOps.put(keys.record(uuid), sealed, 0)), List.of()));
        try {
            return reply.succeeded() ? Optional.of(reply.revision()) : Optional.empty();
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /**
     * Deletes {@code uuid}'s record for good ({@code vtpmback delete}) if no host owns it and it is still at
     * {@code modRevision}; false if not. The same txn writes the uuid's deletion key, whose revision is above every
     * host's mark of the record, so the hosts that ran it accept a new vTPM of the uuid, as the local store does,
     * instead of refusing the missing record as rolled back.
     */
    public boolean deleteIfUnowned(Uuid uuid, long modRevision) throws EtcdStoreException, InterruptedIOException {
        byte[] why = ("deleted at record revision " + modRevision).getBytes(StandardCharsets.UTF_8);
        return removeIfUnowned(uuid, modRevision, List.of(TxnOps.delete(keys.record(uuid)), TxnOps.put(keys.deleted(uuid), why, 0)));
    }

    /**
     * Takes {@code uuid}'s record out of the pool ({@code pool pull}: it lives on in a host's local store) if no host
     * owns it and it is still at {@code modRevision}; false if not. No deletion key: a host that ran it keeps refusing
     * the missing record, since the vTPM still exists elsewhere.
     */
    public boolean takeOutIfUnowned(Uuid uuid, long modRevision) throws EtcdStoreException, InterruptedIOException {
        return removeIfUnowned(uuid, modRevision, List.of(TxnOps.delete(keys.record(uuid))));
    }

    private boolean removeIfUnowned(Uuid uuid, long modRevision, List<Map<String, Object>> ops)
            throws EtcdStoreException, InterruptedIOException {
        return gateway.call(TXN, TxnOps.txn(
                List.of(TxnOps.absent(keys.owner(uuid)), TxnOps.modRevisionIs(keys.record(uuid), modRevision)),
                ops, List.of())).succeeded();
    }

    /** How many keys are under the prefix (a count-only read: proves the prefix is readable with these credentials). */
    public long countUnderPrefix() throws EtcdStoreException, InterruptedIOException {
        Map<String, Object> req = rangeOver(gateway.settings().prefix() + "/");
        req.put("count_only", true);
        GatewayReply reply = gateway.call("/v3/kv/range", req);
        try {
            return GatewayReply.number(reply.body(), "count");
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /** Grants a lease of {@code ttlSeconds} and revokes it at once; returns its id (proves leases work for this client). */
    public long grantAndRevokeLease(long ttlSeconds) throws EtcdStoreException, InterruptedIOException {
        GatewayReply reply = gateway.call("/v3/lease/grant", Map.of("TTL", Long.toString(ttlSeconds)));
        long id;
        try {
            id = GatewayReply.number(reply.body(), "ID");
        } catch (IOException e) {
            throw unreadable(e);
        }
        if (id == 0) {
            throw new EtcdStoreException("etcd granted no lease: " + reply.body().getOrDefault("error", ""));
        }
        gateway.call("/v3/lease/revoke", Map.of("ID", Long.toString(id)));
        return id;
    }

    /** {@code GET <endpoint>/health} on one member, over TLS when configured: its body, e.g. {@code {"health":"true"}}. */
    public String health(URI endpoint) throws IOException {
        return gateway.health(endpoint);
    }

    /** A txn's range over every key of one kind ({@code <prefix>/<kind>/...}). */
    private Map<String, Object> under(String kind) {
        return Map.of("request_range", rangeOver(gateway.settings().prefix() + "/" + kind + "/"));
    }

    /** Every key starting with {@code start}: range_end is {@code start} with its last byte raised by one. */
    private static Map<String, Object> rangeOver(String start) {
        byte[] from = start.getBytes(StandardCharsets.UTF_8);
        byte[] end = from.clone();
        end[end.length - 1]++; // the prefix ends in '/', so no overflow
        Map<String, Object> req = new LinkedHashMap<>();
        req.put("key", TxnOps.b64(from));
        req.put("range_end", TxnOps.b64(end));
        return req;
    }

    private Optional<Uuid> uuidOf(KeyValue kv, String kind) {
        String key = new String(kv.key(), StandardCharsets.UTF_8);
        try {
            return Optional.of(Uuid.parse(key.substring((keys.prefix() + "/" + kind + "/").length())));
        } catch (IllegalArgumentException e) {
            return Optional.empty(); // not ours: another tool's key under the prefix
        }
    }

    private static EtcdStoreException unreadable(IOException e) {
        return new EtcdStoreException("etcd's reply is not what its v3 API documents: " + e.getMessage(), e);
    }
}
