package org.vtpmback.test.host;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.xenstore.Transaction;
import org.vtpmback.xenstore.TransactionBody;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.WatchHandler;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.XsPermission;

/**
 * A real xenstored connection that counts the directory listings and the reads made through it, by path (outside
 * transactions: the daemon lists backends and looks at state nodes that way), and records what each committed
 * transaction wrote, so that a test can say how much of xenstore a daemon looks at for a change and which writes
 * a frontend sees together, by count, not by time. Everything else is passed through. Thread-safe.
 */
public final class CountingXenStore implements XenStore {
    private final XenStore store;
    private final Map<XsPath, LongAdder> listings = new ConcurrentHashMap<>();
    private final Map<XsPath, LongAdder> reads = new ConcurrentHashMap<>();
    private final List<Map<XsPath, String>> commits = new CopyOnWriteArrayList<>();

    public CountingXenStore(XenStore store) {
        this.store = store;
    }

    /** The listings of {@code path} so far. */
    public long listings(XsPath path) {
        LongAdder n = listings.get(path);
        return n == null ? 0 : n.sum();
    }

    /** Every path listed so far, with its count. */
    public Map<XsPath, Long> listings() {
        Map<XsPath, Long> copy = new java.util.TreeMap<>();
        listings.forEach((p, n) -> copy.put(p, n.sum()));
        return copy;
    }

    /** The reads of {@code path} outside transactions so far. */
    public long reads(XsPath path) {
        LongAdder n = reads.get(path);
        return n == null ? 0 : n.sum();
    }

    /** What each committed transaction wrote (path to value; a removal as null), in commit order. */
    public List<Map<XsPath, String>> commits() {
        return List.copyOf(commits);
    }

    public void reset() {
        listings.clear();
        reads.clear();
        commits.clear();
    }

    @Override
    public List<String> list(XsPath path) {
        listings.computeIfAbsent(path, p -> new LongAdder()).increment();
        return store.list(path);
    }

    @Override
    public Optional<String> read(XsPath path) {
        reads.computeIfAbsent(path, p -> new LongAdder()).increment();
        return store.read(path);
    }

    @Override
    public void write(XsPath path, String value) {
        store.write(path, value);
    }

    @Override
    public void mkdir(XsPath path) {
        store.mkdir(path);
    }

    @Override
    public void rm(XsPath path) {
        store.rm(path);
    }

    @Override
    public List<XsPermission> permissions(XsPath path) {
        return store.permissions(path);
    }

    @Override
    public void setPermissions(XsPath path, List<XsPermission> permissions) {
        store.setPermissions(path, permissions);
    }

    @Override
    public <T> T inTransaction(TransactionBody<T> body) {
        AtomicReference<Map<XsPath, String>> written = new AtomicReference<>();
        T result = store.inTransaction(t -> {
            Map<XsPath, String> attempt = new LinkedHashMap<>(); // a retried body starts over
            written.set(attempt);
            return body.run(new RecordingTransaction(t, attempt));
        });
        if (!written.get().isEmpty()) {
            commits.add(Collections.unmodifiableMap(written.get()));
        }
        return result;
    }

    /** Passes everything to the transaction, noting the writes and removals. */
    private record RecordingTransaction(Transaction t, Map<XsPath, String> written) implements Transaction {
        @Override
        public Optional<String> read(XsPath path) {
            return t.read(path);
        }

        @Override
        public void write(XsPath path, String value) {
            t.write(path, value);
            written.put(path, value);
        }

        @Override
        public void mkdir(XsPath path) {
            t.mkdir(path);
        }

        @Override
        public void rm(XsPath path) {
            t.rm(path);
            written.put(path, null);
        }

        @Override
        public List<String> list(XsPath path) {
            return t.list(path);
        }

        @Override
        public List<XsPermission> permissions(XsPath path) {
            return t.permissions(path);
        }

        @Override
        public void setPermissions(XsPath path, List<XsPermission> permissions) {
            t.setPermissions(path, permissions);
        }
    }

    @Override
    public Watch watch(XsPath path, WatchHandler handler) {
        return store.watch(path, handler);
    }

    @Override
    public Heartbeat watchReader() {
        return store.watchReader();
    }

    @Override
    public XsPath domainPath(int domid) {
        return store.domainPath(domid);
    }

    @Override
    public boolean isDomainIntroduced(int domid) {
        return store.isDomainIntroduced(domid);
    }

    @Override
    public void close() {
        store.close();
    }
}
