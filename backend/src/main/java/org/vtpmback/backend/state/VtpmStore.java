package org.vtpmback.backend.state;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Where the daemon keeps its vTPM records: what a vTPM's start, run and teardown need of a store. The local
 * {@link InstanceStore} (sealed files, generation anchor, commit log) is the default; a pool of hosts keeps them
 * on etcd instead ({@code org.vtpmback.etcd.EtcdVtpmStore}, docs/pool.md). Records are sealed the same way in
 * both ({@link RecordSealing}), and every store refuses a record older than one this host committed.
 *
 * <p>A vTPM is held by one host at a time: {@link #acquire} takes it for this host (a no-op for the local
 * store, which only this host uses), and {@link #saveAndRelease} or {@link #release} let it go at teardown.
 * A store that finds another host took a vTPM over refuses every later write of it with a
 * {@link FencedStateException}, and says so in {@link #fenced}. Thread-safe for different uuids; the daemon
 * writes one uuid from one device at a time.
 */
public interface VtpmStore extends AutoCloseable {
    /**
     * Takes {@code uuid} for this host, waiting up to {@code wait} while another host still holds it (the source of a
     * migration that has not saved yet), and returns its record, or empty if there is none.
     *
     * @throws CorruptStateException if the record cannot be authenticated or parsed, or is older than this host's mark
     * @throws IOException           if the vTPM cannot be taken (another host kept it past {@code wait}: the message
     *                               names it) or the store cannot be reached
     */
    Optional<InstanceRecord> acquire(Uuid uuid, Duration wait) throws CorruptStateException, IOException;

    /** Whether a record of {@code uuid} seems to exist (to start a first start's manufacture early); never throws. */
    boolean stored(Uuid uuid);

    /**
     * Stores a newly manufactured vTPM (end NEW) unless its uuid is stored.
     *
     * @return the record as stored
     * @throws AlreadyStoredException if a record of {@code uuid} exists; nothing is written
     */
    InstanceRecord create(Uuid uuid, TpmFamily family, byte[] permanent) throws IOException;

    /** Commits {@code record} in full (a start, a daemon stop); see {@link InstanceStore#save}. */
    void save(InstanceRecord record) throws IOException;

    /** Commits the state a guest command changed, durable on return; see {@link InstanceStore#checkpoint}. */
    void checkpoint(InstanceRecord record) throws IOException;

    /**
     * The last save of a teardown that ends this host's use of the vTPM (suspend, shutdown, destroy): commits
     * {@code record} and lets the vTPM go in one step, so that whoever takes it next reads exactly this record.
     */
    void saveAndRelease(InstanceRecord record) throws IOException;

    /** Lets {@code uuid} go without writing (a start that failed, a teardown that saves nothing). Never throws. */
    void release(Uuid uuid);

    /** Why this host may no longer write {@code uuid} (it was fenced), if so. Cheap: asked before every command. */
    Optional<String> fenced(Uuid uuid);

    /** For {@code vtpmback status}: what is wrong with where {@code uuid}'s state goes, if anything. */
    Optional<String> problem(Uuid uuid);

    /** Where {@code uuid}'s record is kept, for messages (a file, an etcd key). */
    String where(Uuid uuid);

    /** The store as messages name it (a folder, an etcd cluster). */
    String describe();

    /** Ends the store's work and wipes its keys; see {@link InstanceStore#close}. */
    @Override
    void close() throws IOException;
}
