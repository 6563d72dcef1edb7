package org.vtpmback.etcd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AlreadyStoredException;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.FencedStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.SealedMarks;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.backend.state.VtpmStore;

/**
 * The daemon's vTPM records in a pool's etcd ({@code store = etcd}; docs/pool.md). Records are sealed exactly as the
 * local store seals them ({@link RecordSealing}, with the pool's shared master key), so etcd only holds ciphertext.
 *
 * <p>A vTPM's start takes its owner key ({@link PoolRecordStore#acquire}), waiting with a bound while another host
 * holds it; every save is one fenced commit on the revision this host last wrote; a suspend's save is
 * {@link PoolRecordStore#releaseWithSnapshot}; other teardowns commit and let go. A refused write fences the vTPM
 * here for good ({@link #fenced}): nothing of it is written by this host again. When the host's lease fences (a
 * partition, a long pause), every vTPM held on it is fenced, and the next start grants a new lease.
 *
 * <p>This host's revision marks ({@link RevisionGuard}) are kept sealed in {@code <marks dir>/etcd-revisions.anchor}
 * and loaded at start, so a restarted daemon still refuses a record older than one it wrote. Thread-safe.
 */
public final class EtcdVtpmStore implements VtpmStore {
    private static final System.Logger LOG = System.getLogger(EtcdVtpmStore.class.getName());
    /** How often a start that waits for another host looks at the owner key again. */
    private static final Duration POLL = Duration.ofMillis(200);
    static final String MARKS = "etcd-revisions";

    private final EtcdGateway gateway;
    private final HostId host;
    private final LeaseTiming timing;
    private final RecordSealing sealing;
    private final SealedMarks marks;
    private final RevisionGuard guard;
    private final Map<Uuid, Held> held = new ConcurrentHashMap<>();
    private final Map<Uuid, String> fenced = new ConcurrentHashMap<>();
    /** This host's store on its current lease; null until the first use and after the lease fenced. Guarded by this. */
    private PoolRecordStore current;
    /** A lease that fenced, to be stopped off its own thread. Guarded by this. */
    private HostLease retired;

    /**
     * A vTPM this host holds: on which lease, at which record revision, and a write whose answer was lost (a member
     * failed), which is sent again, as it was, before anything else (repeating it is safe; a new write on the old
     * revision would be refused as if another host had written).
     */
    private record Held(PoolRecordStore pool, long revision, Optional<byte[]> unanswered) {
    }

    private EtcdVtpmStore(EtcdGateway gateway, HostId host, LeaseTiming timing, MasterKey key, SealedMarks marks)
            throws IOException {
        this.gateway = gateway;
        this.host = host;
        this.timing = timing;
        this.sealing = new RecordSealing(key, describe(gateway));
        this.marks = marks;
        this.guard = new RevisionGuard(marks.read());
    }

    /**
     * The store of host {@code host} in the pool at {@code settings}; its lease is granted at the first use.
     *
     * @param marksDir where this host keeps its revision marks (the local state folder)
     */
    public static EtcdVtpmStore open(EtcdSettings settings, HostId host, LeaseTiming timing, MasterKey key, Path marksDir)
            throws IOException {
        return open(new EtcdGateway(settings), host, timing, key, marksDir);
    }

    /** As {@link #open(EtcdSettings, HostId, LeaseTiming, MasterKey, Path)} on a gateway made already (its TLS set up). */
    public static EtcdVtpmStore open(EtcdGateway gateway, HostId host, LeaseTiming timing, MasterKey key, Path marksDir)
            throws IOException {
        SealedMarks marks = SealedMarks.open(marksDir, MARKS, key);
        try {
            return new EtcdVtpmStore(gateway, host, timing, key, marks);
        } catch (IOException | RuntimeException e) {
            marks.close();
            throw e;
        }
    }

    public HostId host() {
        return host;
    }

    /** This host's store on a valid lease: a new lease after the last one fenced (the host's vTPMs on it stay fenced). */
    private synchronized PoolRecordStore pool() throws IOException {
        if (current == null || !current.lease().isValid()) {
            if (retired != null) {
                retired.closeKeepingKeys(); // it fenced: etcd drops it, and with it the owner keys, by itself
                retired = null;
            }
            HostLease lease = HostLease.grant(gateway, timing, this::leaseFenced);
            current = new PoolRecordStore(gateway, host, lease, guard);
            LOG.log(System.Logger.Level.INFO, "pool host {0}: etcd {1} granted", host, lease);
        }
        return current;
    }

    /**
     * Runs on the lease's thread when it fences: every vTPM held on it is fenced at once (its next command is refused),
     * then each gets its loud line, naming the host that owns it now if etcd can say.
     */
    private void leaseFenced(FencedException.Reason reason) {
        synchronized (this) {
            if (current != null && current.lease().fencedReason().isPresent()) {
                retired = current.lease();
                current = null;
            }
        }
        Map<Uuid, PoolRecordStore> lost = new java.util.TreeMap<>();
        held.forEach((uuid, h) -> {
            if (h.pool().lease().fencedReason().isPresent()) {
                lost.put(uuid, h.pool());
                fenced.putIfAbsent(uuid, "host " + host + " lost its etcd lease (" + reason.text() + ")");
                held.remove(uuid);
            }
        });
        lost.forEach((uuid, pool) -> {
            String why = "host " + host + " lost its etcd lease (" + reason.text() + "); " + ownerNow(pool, uuid);
            fenced.put(uuid, why);
            LOG.log(System.Logger.Level.ERROR, "FENCED vTPM {0} on host {1}: {2}; this host never writes it again", uuid, host, why);
        });
    }

    /** Who owns {@code uuid} now, as a phrase for the fence's log line (the read needs no lease). */
    private static String ownerNow(PoolRecordStore pool, Uuid uuid) {
        try {
            return pool.owner(uuid).map(o -> "its owner is now host " + o).orElse("it has no owner now");
        } catch (IOException e) {
            return "its owner now is unknown (" + e.getMessage() + ")";
        }
    }

    private void fence(Uuid uuid, String why) {
        if (fenced.putIfAbsent(uuid, why) == null) {
            held.remove(uuid);
            LOG.log(System.Logger.Level.ERROR, "FENCED vTPM {0} on host {1}: {2}; this host never writes it again", uuid, host, why);
        }
    }

    @Override
    public Optional<InstanceRecord> acquire(Uuid uuid, Duration wait) throws CorruptStateException, IOException {
        long deadline = System.nanoTime() + wait.toNanos();
        boolean waited = false;
        while (true) {
            PoolRecordStore pool = pool();
            try {
                Acquisition a = pool.acquire(uuid);
                fenced.remove(uuid); // a new start on a fresh hold: the fenced incarnation is gone (one device per uuid)
                held.put(uuid, new Held(pool, a.recordRevision(), Optional.empty()));
                if (waited) {
                    LOG.log(System.Logger.Level.INFO, "vTPM {0}: host {1} owns it now", uuid, host);
                }
                return a.record().isEmpty() ? Optional.empty()
                        : Optional.of(sealing.open(uuid, a.record().get().sealed(), where(uuid)));
            } catch (OwnedElsewhereException e) {
                if (System.nanoTime() + POLL.toNanos() - deadline > 0) {
                    throw new EtcdStoreException(e.getMessage() + "; waited " + wait.toSeconds() + " s for it to let go"
                            + " (is the source of a migration stuck, or does that host still run the guest?)", e);
                }
                if (!waited) {
                    LOG.log(System.Logger.Level.INFO, "vTPM {0}: owned by host {1}; waiting up to {2} s for it to let go",
                            uuid, e.owner(), wait.toSeconds());
                    waited = true;
                }
                sleep();
            } catch (FencedException e) {
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
                // the lease fenced between pool() and the txn: the next round grants a new one
            }
        }
    }

    private static void sleep() throws InterruptedIOException {
        try {
            Thread.sleep(POLL.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for another host to let a vTPM go");
        }
    }

    @Override
    public boolean stored(Uuid uuid) {
        try {
            return pool().read(uuid).isPresent();
        } catch (IOException | RuntimeException e) {
            return true; // unknown: no early manufacture, the start decides
        }
    }

    @Override
    public InstanceRecord create(Uuid uuid, TpmFamily family, byte[] permanent) throws IOException {
        Held h = held(uuid);
        if (h.revision() != 0) {
            throw new AlreadyStoredException(uuid, Path.of(where(uuid)));
        }
        InstanceRecord made = new InstanceRecord(uuid, family, Instant.now(), 1, InstanceRecord.EndKind.NEW, permanent,
                Optional.empty());
        write(made, false);
        return made;
    }

    @Override
    public void save(InstanceRecord record) throws IOException {
        write(record, false);
    }

    /** One fenced commit, as every save. */
    @Override
    public void checkpoint(InstanceRecord record) throws IOException {
        write(record, false);
    }

    /** A suspend's snapshot, or the last state of a shutdown or destroy, and the release, in one txn. */
    @Override
    public void saveAndRelease(InstanceRecord record) throws IOException {
        write(record, true);
    }

    private Held held(Uuid uuid) throws IOException {
        String why = fenced.get(uuid);
        if (why != null) {
            throw new FencedStateException("host " + host + " is fenced from vTPM " + uuid + ": " + why, null);
        }
        Held h = held.get(uuid);
        if (h == null) {
            // not started through acquire: the crash take-over stores a survivor's state first (it must still be ours)
            try {
                acquire(uuid, Duration.ZERO);
            } catch (CorruptStateException e) {
                throw new IOException(e.getMessage(), e);
            }
            h = held.get(uuid);
        }
        return h;
    }

    private void write(InstanceRecord record, boolean release) throws IOException {
        Uuid uuid = record.uuid();
        Held h = held(uuid);
        try {
            if (h.unanswered().isPresent()) {
                long revision = h.pool().commit(uuid, h.unanswered().get(), h.revision());
                h = new Held(h.pool(), revision, Optional.empty());
                held.put(uuid, h);
            }
            byte[] sealed = sealing.seal(record);
            long revision;
            try {
                revision = release ? h.pool().releaseWithSnapshot(uuid, sealed, h.revision()) : h.pool().commit(uuid, sealed, h.revision());
            } catch (EtcdUnavailableException e) {
                held.put(uuid, new Held(h.pool(), h.revision(), Optional.of(sealed)));
                throw e;
            }
            if (release) {
                held.remove(uuid);
            } else {
                held.put(uuid, new Held(h.pool(), revision, Optional.empty()));
            }
            marks.raise(uuid, revision); // durable: a restarted daemon refuses anything older
        } catch (FencedException e) {
            fence(uuid, e.getMessage());
            throw new FencedStateException(e.getMessage(), e);
        }
    }

    @Override
    public void release(Uuid uuid) {
        Held h = held.remove(uuid);
        if (h == null || fenced.containsKey(uuid)) {
            return;
        }
        try {
            h.pool().release(uuid);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "vTPM {0}: letting it go failed ({1}); it stays this host''s until its"
                    + " lease ends", uuid, e.getMessage());
        }
    }

    @Override
    public Optional<String> fenced(Uuid uuid) {
        return Optional.ofNullable(fenced.get(uuid));
    }

    @Override
    public Optional<String> problem(Uuid uuid) {
        return fenced(uuid).map(f -> "fenced: " + f);
    }

    @Override
    public String where(Uuid uuid) {
        return "etcd key " + gateway.settings().prefix() + "/record/" + uuid.value();
    }

    @Override
    public String describe() {
        return describe(gateway);
    }

    private static String describe(EtcdGateway gateway) {
        return "etcd " + gateway.settings().endpoints() + " under " + gateway.settings().prefix();
    }

    /**
     * Stops the lease: revoked when this host holds no vTPM any more, else left to expire with their owner keys, so
     * that the next daemon here re-attaches the guests a stop left running. Then the keys are wiped.
     */
    @Override
    public void close() {
        try {
            PoolRecordStore pool;
            synchronized (this) {
                pool = current;
                current = null;
                if (retired != null) {
                    retired.closeKeepingKeys();
                }
            }
            if (pool != null) {
                if (held.isEmpty()) {
                    pool.lease().close();
                } else {
                    pool.lease().closeKeepingKeys();
                }
            }
        } finally {
            sealing.close();
            marks.close();
        }
    }
}
