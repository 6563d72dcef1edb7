package org.vtpmback.backend.state;

import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * How a vTPM record is sealed, wherever it is kept: AES-256-GCM under a key derived from the master key
 * for that uuid, with the uuid as associated data. The local store's record files and the pool's etcd
 * records are the same bytes, so one rule seals both (docs/pool.md). Each uuid's key is derived once
 * (HKDF costs about as much as sealing a record with AES-NI) and kept until {@link #close}, which wipes
 * them. Thread-safe.
 */
public final class RecordSealing implements AutoCloseable {
    private static final String PURPOSE = "instance-state";

    private final MasterKey masterKey;
    private final String where;
    private final ConcurrentMap<Uuid, SealingKey> keys = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** @param where the store, as messages name it (a folder, an etcd cluster) */
    public RecordSealing(MasterKey masterKey, String where) {
        this.masterKey = masterKey;
        this.where = where;
    }

    /** {@code record} sealed. */
    public byte[] seal(InstanceRecord record) {
        return Sealer.seal(keyOf(record.uuid()), context(record.uuid()), record.encode());
    }

    /**
     * The record {@code sealed} holds, authenticated as {@code uuid}'s.
     *
     * @param source where the bytes came from, for the message (a file, an etcd key)
     * @throws CorruptStateException if they do not open with this host's key, or hold another vTPM
     */
    public InstanceRecord open(Uuid uuid, byte[] sealed, String source) throws CorruptStateException {
        try {
            InstanceRecord record = InstanceRecord.decode(Sealer.open(keyOf(uuid), context(uuid), sealed));
            if (!record.uuid().equals(uuid)) {
                throw new CorruptStateException(uuid, source, "holds vTPM " + record.uuid());
            }
            return record;
        } catch (SealedDataException e) {
            throw new CorruptStateException(uuid, source, e.getMessage());
        } catch (IOException e) {
            throw new CorruptStateException(uuid, source, "authenticated but unreadable: " + e.getMessage());
        }
    }

    SealingKey keyOf(Uuid uuid) {
        if (closed) {
            throw new IllegalStateException("the vTPM store " + where + " is closed");
        }
        return keys.computeIfAbsent(uuid, u -> masterKey.sealingKey(u.value(), PURPOSE));
    }

    /**
     * A uuid whose record is gone drops its key from the cache (the pool's store sees many uuids come and go). Not
     * wiped here: another thread may still be using it; it goes with the garbage, like the cipher's own copies.
     */
    void forgetKey(Uuid uuid) {
        keys.remove(uuid);
    }

    /** Wipes every key derived; nothing is sealed or opened afterwards. */
    @Override
    public void close() {
        closed = true;
        keys.values().forEach(SealingKey::destroy);
        keys.clear();
    }

    /** Associated data: the record belongs to this uuid and this role. */
    private static String context(Uuid uuid) {
        return "vtpmback instance " + uuid.value();
    }
}
