package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;

/**
 * The daemon's commit logs, written (docs/reliability.md, "Checkpoints"): two preallocated files, one active,
 * appended to in groups. {@link #append} returns once its entry is durable: the first waiting thread writes
 * everything queued with one positional write and one {@code fdatasync}, and the threads that queued meanwhile
 * are the next group (group commit). When the active log is full, the next group starts the other log with a
 * fresh copy of every live entry (a checkpoint not yet folded into its record file), so the full log is never
 * needed again.
 *
 * <p>One process writes the logs: it holds a lock on {@code commit-0.log} for as long as it has them open (a second
 * owner of the same folder gets none and saves the slow way; {@link LogFiles}). Thread-safe; {@link #close} once
 * nothing appends.
 */
final class CommitLog implements AutoCloseable {
    static final int SIZE = 8 << 20;
    /** Groups start on this boundary: a group never rewrites a block of an earlier, acknowledged one. */
    static final int ALIGN = 4096;
    /** The largest sealed record an entry takes; a larger one is saved the slow way. */
    static final int MAX_SEALED = SIZE / 4;
    static final List<String> FILES = List.of("commit-0.log", "commit-1.log");
    private static final System.Logger LOG = System.getLogger(CommitLog.class.getName());
    /** The largest group buffer kept between groups (see {@link #groupBuffer}). */
    private static final int KEPT_BUFFER = 256 << 10;
    private static final byte[] ZEROS = new byte[ALIGN];

    /** What the log needs from its store. */
    interface Owner {
        SealingKey keyOf(Uuid uuid);

        /**
         * Called once the logs are locked for this owner, before anything is written: brings the record files up to
         * what the logs hold and returns the highest epoch sequence used in the folder (the first epoch comes after it).
         */
        long takeOver() throws IOException;

        /** Folds every live entry into the record files now (the live entries would fill half a log). */
        void foldLive() throws IOException;
    }

    /** The log's durable end, and the epoch it is in. */
    record Position(LogEntry.Epoch epoch, long end) {
    }

    private static final class Waiter {
        final InstanceRecord record;
        LogEntry.Epoch sealedFor;
        byte[] entry;
        boolean done;
        IOException failure;

        Waiter(InstanceRecord record, LogEntry.Epoch sealedFor, byte[] entry) {
            this.record = record;
            this.sealedFor = sealedFor;
            this.entry = entry;
        }
    }

    private final Path dir;
    private final LogFiles files;
    private final Owner owner;
    /** The newest record of each vTPM that is in the logs and not yet in its record file. */
    private final ConcurrentMap<Uuid, InstanceRecord> live = new ConcurrentHashMap<>();
    private final ReentrantLock queueLock = new ReentrantLock();
    private final Condition groupDone = queueLock.newCondition();
    private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
    private boolean writing;
    private boolean closed;
    private volatile IOException broken;
    private final java.util.concurrent.atomic.AtomicLong syncs = new java.util.concurrent.atomic.AtomicLong();
    /** The writing thread's buffer (whoever holds {@code writing}; handed over under {@code queueLock}). */
    private ByteBuffer kept;
    /** Changed only by the writing thread, after its group's fdatasync returned. */
    private volatile Position position;

    private CommitLog(Path dir, LogFiles files, Owner owner, LogEntry.Epoch first) {
        this.dir = dir;
        this.files = files;
        this.owner = owner;
        this.position = new Position(first, 0);
    }

    /**
     * Opens the logs of {@code dir} for writing ({@link LogFiles#open}, which makes them if missing) and starts the
     * epoch after {@link Owner#takeOver}'s at the start of its log. Empty if another owner has them. {@code faults}: the
     * identity, except in fault-injection tests.
     */
    static Optional<CommitLog> open(Path dir, Owner owner, UnaryOperator<FileChannel> faults) throws IOException {
        Optional<LogFiles> files = LogFiles.open(dir, faults);
        if (files.isEmpty()) {
            return Optional.empty();
        }
        try {
            // Under the lock: no other owner writes the logs from here on, so the sequence read now stays the highest (an
            // old owner's last fold may still come, but the position it records is in the logs just read).
            return Optional.of(new CommitLog(dir, files.get(), owner, LogEntry.Epoch.after(owner.takeOver())));
        } catch (IOException | RuntimeException e) {
            files.get().close();
            throw e;
        }
    }

    /** The records that are only in the logs, newest of each vTPM; a live view. */
    Map<Uuid, InstanceRecord> live() {
        return java.util.Collections.unmodifiableMap(live);
    }

    /** Forgets {@code uuid}'s live entry if it is {@code record} (folded) or older than {@code generation}. */
    void forget(Uuid uuid, long generation) {
        live.computeIfPresent(uuid, (u, r) -> r.generation() <= generation ? null : r);
    }

    Position position() {
        return position;
    }

    /** Whether a write or sync failed: nothing more is appended, the owner saves the slow way. */
    boolean broken() {
        return broken != null;
    }

    /** The failure that broke the log, if one did. */
    Optional<IOException> failure() {
        return Optional.ofNullable(broken);
    }

    /**
     * Appends {@code record} and returns once it is durable.
     *
     * @throws IOException if its group could not be written or synced (the log is broken from then on)
     */
    void append(InstanceRecord record) throws IOException {
        LogEntry.Epoch epoch = position.epoch();
        Waiter me = new Waiter(record, epoch, LogEntry.seal(owner.keyOf(record.uuid()), epoch, record)); // on the caller's CPU
        queueLock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the commit log in " + dir + " is closed");
            }
            queue.add(me);
            while (!me.done) {
                if (writing) {
                    groupDone.awaitUninterruptibly(); // the group ahead takes one fdatasync, then this one is written
                    continue;
                }
                writing = true;
                List<Waiter> group = new ArrayList<>(queue);
                queue.clear();
                IOException failure = null;
                boolean written = false;
                queueLock.unlock();
                try {
                    write(group);
                    written = true;
                } catch (IOException e) {
                    failure = e;
                } catch (RuntimeException e) {
                    failure = new IOException(e.toString(), e);
                } finally {
                    queueLock.lock(); // also after an Error: no waiter may take an unwritten group for durable
                    writing = false;
                    if (!written && failure == null) {
                        // An Error on the way. Made here, not up front: filling in a stack trace for every group cost
                        // several microseconds of each checkpoint.
                        failure = new IOException("the group was not written (the writing thread failed)");
                    }
                    for (Waiter w : group) {
                        w.failure = failure;
                        w.done = true;
                    }
                    groupDone.signalAll();
                }
            }
        } finally {
            queueLock.unlock();
        }
        if (me.failure != null) {
            throw new IOException(me.failure.getMessage(), me.failure);
        }
    }

    /** Writes one group at the end of the active log, or starts the other log with it; only the writing thread. */
    private void write(List<Waiter> group) throws IOException {
        IOException b = broken;
        if (b != null) {
            throw new IOException("nothing written: the commit log in " + dir + " is out of use since an earlier failure ("
                    + b.getMessage() + ")");
        }
        try {
            Position at = position;
            List<byte[]> entries = sealedFor(at.epoch(), group);
            long size = align(total(entries));
            if (at.end() + size <= SIZE) {
                writeAndSync(at.epoch(), at.end(), entries);
                position = new Position(at.epoch(), at.end() + size);
            } else {
                startNextEpoch(at.epoch(), group);
            }
        } catch (IOException e) {
            broken = e;
            LOG.log(System.Logger.Level.ERROR, "{0}; the checkpoint(s) of vTPM {1} in that group are answered with a TPM failure"
                    + " and stay pending. From now on every checkpoint is a full save of its record file (four fsyncs) until"
                    + " the daemon restarts; what the log acknowledged before is durable and is folded into the record files"
                    + " as usual. Check the disk (dmesg, free space), then restart the daemon to use the log again",
                    e.getMessage(), String.join(", ", group.stream().map(w -> w.record.uuid().value()).distinct().toList()));
            throw e;
        }
        for (Waiter w : group) {
            live.merge(w.record.uuid(), w.record, (old, now) -> now.generation() > old.generation() ? now : old);
        }
    }

    /** The next epoch, at the start of the other log: every live entry not in {@code group}, then the group. */
    private void startNextEpoch(LogEntry.Epoch full, List<Waiter> group) throws IOException {
        LogEntry.Epoch next = LogEntry.Epoch.after(full.sequence());
        List<byte[]> entries = carried(next, group);
        entries.addAll(sealedFor(next, group));
        if (total(entries) > SIZE / 2) {
            try {
                owner.foldLive(); // many vTPMs with unfolded changes: their record files take them, the new log starts small
            } catch (IOException e) {
                throw new IOException("the commit log in " + dir + " is full, and folding its live entries into the record"
                        + " files first failed: " + e.getMessage(), e);
            }
            entries = carried(next, group);
            entries.addAll(sealedFor(next, group));
        }
        long size = align(total(entries));
        if (size > SIZE) {
            throw new IOException("a group of " + size + " bytes does not fit a commit log of " + SIZE);
        }
        writeAndSync(next, 0, entries);
        position = new Position(next, size);
        LOG.log(System.Logger.Level.DEBUG, "commit log: epoch {0} in {1}, {2} live entries carried over", next.sequence(),
                FILES.get(logIndex(next)), entries.size() - group.size());
    }

    /** The live entries of the vTPMs that {@code group} does not checkpoint, sealed for {@code epoch}. */
    private List<byte[]> carried(LogEntry.Epoch epoch, List<Waiter> group) {
        Map<Uuid, InstanceRecord> carry = new HashMap<>(live);
        group.forEach(w -> carry.remove(w.record.uuid()));
        List<byte[]> out = new ArrayList<>();
        carry.values().forEach(r -> out.add(LogEntry.seal(owner.keyOf(r.uuid()), epoch, r)));
        return out;
    }

    /** The group's entries, sealed again where they were sealed for another epoch (a switch came between). */
    private List<byte[]> sealedFor(LogEntry.Epoch epoch, List<Waiter> group) {
        List<byte[]> out = new ArrayList<>();
        for (Waiter w : group) {
            if (!w.sealedFor.equals(epoch)) {
                w.entry = LogEntry.seal(owner.keyOf(w.record.uuid()), epoch, w.record);
                w.sealedFor = epoch;
            }
            out.add(w.entry);
        }
        return out;
    }

    /** One positional write of the entries and zeros to the next boundary, then fdatasync: the one sync of a group. */
    private void writeAndSync(LogEntry.Epoch epoch, long at, List<byte[]> entries) throws IOException {
        int size = align(total(entries));
        ByteBuffer buf = groupBuffer(size);
        entries.forEach(buf::put);
        buf.put(ZEROS, 0, size - buf.position()); // the padding: the reader finds the group's end by it
        buf.flip();
        files.writeAndSync(logIndex(epoch), at, buf);
        syncs.incrementAndGet();
    }

    /**
     * A direct buffer of {@code size} bytes, cleared, for the writing thread alone: kept between groups up to
     * {@link #KEPT_BUFFER} (the usual group), so that a group costs neither a zeroed allocation nor the JDK's copy of a
     * heap buffer into a temporary direct one for the write; a larger group (a switch carrying many live entries) gets
     * one of its own.
     */
    private ByteBuffer groupBuffer(int size) {
        if (size > KEPT_BUFFER) {
            return ByteBuffer.allocateDirect(size);
        }
        if (kept == null || kept.capacity() < size) {
            kept = ByteBuffer.allocateDirect(Math.max(size, 4 * ALIGN));
        }
        return kept.clear().limit(size);
    }

    /** How many groups were written and synced: one fdatasync each. */
    long syncs() {
        return syncs.get();
    }

    static int logIndex(LogEntry.Epoch epoch) {
        return (int) Math.floorMod(epoch.sequence(), 2L);
    }

    private static long total(List<byte[]> entries) {
        long n = 0;
        for (byte[] e : entries) {
            n += e.length;
        }
        return n;
    }

    static int align(long n) {
        return (int) ((n + ALIGN - 1) / ALIGN * ALIGN);
    }

    /** Refuses appends from now on, waits for a group being written, releases the logs. Idempotent. */
    @Override
    public void close() {
        queueLock.lock();
        try {
            closed = true;
            while (writing) {
                groupDone.awaitUninterruptibly();
            }
        } finally {
            queueLock.unlock();
        }
        files.close();
    }
}
