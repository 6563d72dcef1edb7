package org.vtpmback.backend.instance;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Consumer;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AtomicFiles;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.RolledBackStateException;
import org.vtpmback.backend.state.Uuid;

/**
 * The pool of ready-made TPMs: per family, a few TPMs whose slow stage of manufacture is done (their keys,
 * {@link StagedManufacturer#makeKeys}) and no uuid is bound yet, so that a first start only binds one
 * ({@link StagedManufacturer#bind}: the EK certificate, milliseconds) instead of generating keys while its
 * guest waits; it does so in its guest's engine as that starts, so it costs no engine of its own. A
 * {@link PoolFiller} keeps the pool full, at the lowest priority.
 *
 * <p>Entries are records of an {@link InstanceStore} of their own ({@code <state-dir>/pool}), under a random
 * entry uuid, sealed with the master key like any vTPM: nothing of them is on disk in plaintext, and they are
 * never listed as vTPMs. An entry is taken with {@link InstanceStore#take}: its retired mark makes it the
 * taker's before the vTPM made from it is stored, so a crash in between costs an entry (nobody ever had its
 * keys) and can never give its keys to two uuids; a copy of its file put back is refused.
 *
 * <p>Thread-safe: takes come from device threads, entries from the filler's thread.
 */
public final class ManufacturePool implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ManufacturePool.class.getName());

    /**
     * What the daemon keeps ready.
     *
     * @param store where the entries are sealed, apart from the vTPMs
     * @param sizes how many entries to keep per family (a family not named: none)
     */
    public record Settings(InstanceStore store, Map<TpmFamily, Integer> sizes) {
        public Settings {
            sizes = Map.copyOf(sizes);
            sizes.values().forEach(n -> {
                if (n < 0) {
                    throw new IllegalArgumentException("pool size " + n + " is negative");
                }
            });
        }
    }

    /** A taken entry: its keys are made, no uuid is bound. */
    record Entry(Uuid id, TpmFamily family, byte[] permanent) {
    }

    private final InstanceStore store;
    private final Map<TpmFamily, Integer> sizes;
    private final AsideManufacture aside;
    private final StagedManufacturer staged;
    private final Map<TpmFamily, Deque<Uuid>> ready = new EnumMap<>(TpmFamily.class);
    private final PoolFiller filler;

    ManufacturePool(Settings settings, AsideManufacture aside, StagedManufacturer staged) {
        this.store = settings.store();
        this.sizes = settings.sizes();
        this.aside = aside;
        this.staged = staged;
        for (TpmFamily f : TpmFamily.values()) {
            ready.put(f, new ArrayDeque<>());
        }
        this.filler = new PoolFiller(this);
    }

    /**
     * Finds the entries a daemon left (each opened, as a take will), then starts refilling. A file that does not
     * open is removed: an entry is nobody's vTPM, and one that was taken (a crash between the take and the
     * removal of its file, or a copy put back) is never offered again.
     */
    void start() {
        for (Uuid id : store.list()) {
            try {
                store.load(id).ifPresent(r -> add(r.family(), id));
            } catch (RolledBackStateException e) {
                LOG.log(System.Logger.Level.INFO, "pool: entry {0} was taken already; removing its file {1}", id, store.fileOf(id));
                remove(id);
            } catch (CorruptStateException e) {
                LOG.log(System.Logger.Level.WARNING, "pool: removing entry {0}, which cannot be used: {1}", id, e.getMessage());
                remove(id);
            }
        }
        LOG.log(System.Logger.Level.INFO, "pool of ready-made TPMs in {0}: {1}", store.dir(), describe());
        filler.start();
    }

    /** Stops refilling: an entry being made is dropped (its swtpm killed). Idempotent. */
    @Override
    public void close() {
        filler.close();
    }

    /** Takes an entry of {@code family} for good (see the class comment), or empty if there is none. */
    Optional<Entry> take(TpmFamily family) {
        try {
            while (true) {
                Uuid id;
                synchronized (this) {
                    id = ready.get(family).pollFirst();
                }
                if (id == null) {
                    return Optional.empty();
                }
                try {
                    Optional<InstanceRecord> taken = store.take(id);
                    if (taken.isPresent()) {
                        return Optional.of(new Entry(id, family, taken.get().permanent()));
                    }
                } catch (CorruptStateException e) {
                    LOG.log(System.Logger.Level.WARNING, "pool: removing entry {0}, which cannot be used: {1}", id, e.getMessage());
                    remove(id);
                } catch (IOException e) {
                    // its file is left for the next daemon to sort out (taken or not, it is out of this one's pool)
                    LOG.log(System.Logger.Level.WARNING, "pool: cannot take entry {0} ({1}): {2}", id, store.fileOf(id), e.getMessage());
                    return Optional.empty();
                }
            }
        } finally {
            filler.wake();
        }
    }

    /**
     * Binds the ready-made TPM started in {@code engine} (its guest's, just started from an entry) to {@code uuid}:
     * {@link StagedManufacturer#bind}, where its family has anything to bind.
     */
    void bind(TpmEngine engine, Uuid uuid) {
        if (staged.bindsIn(engine.family())) {
            staged.bind(engine, uuid);
        }
    }

    /** How many entries of each family are ready now. */
    synchronized Map<TpmFamily, Integer> readyCounts() {
        Map<TpmFamily, Integer> counts = new EnumMap<>(TpmFamily.class);
        ready.forEach((f, q) -> counts.put(f, q.size()));
        return counts;
    }

    /** On the filler's thread as it starts: see {@link StagedManufacturer#readyBinding}. */
    void readyBinding() {
        staged.readyBinding();
    }

    /** How many entries of {@code family} the pool keeps. */
    int sizeOf(TpmFamily family) {
        return sizes.getOrDefault(family, 0);
    }

    /** The family furthest below its size, if any is. */
    synchronized Optional<TpmFamily> mostWanted() {
        TpmFamily wanted = null;
        int most = 0;
        for (TpmFamily f : TpmFamily.values()) {
            int missing = sizeOf(f) - ready.get(f).size();
            if (missing > most) {
                most = missing;
                wanted = f;
            }
        }
        return Optional.ofNullable(wanted);
    }

    /**
     * Makes one entry of {@code family} and stores it (on the filler's thread). {@code started} sees the engine
     * before its keys are generated, so that a stop can abort it.
     */
    void makeOne(TpmFamily family, Consumer<TpmEngine> started) throws IOException {
        Uuid id = Uuid.parse(UUID.randomUUID().toString());
        long t0 = System.nanoTime();
        byte[] permanent = aside.firstStage(id, family, engine -> {
            started.accept(engine);
            staged.makeKeys(engine, "pool entry " + id);
        });
        store.create(id, family, permanent);
        add(family, id);
        LOG.log(System.Logger.Level.INFO, "pool: ready-made {0} TPM {1} stored in {2} ms; {3}", family, id,
                EarlyManufacture.millisSince(t0), describe());
    }

    private synchronized void add(TpmFamily family, Uuid id) {
        ready.get(family).addLast(id);
    }

    private void remove(Uuid id) {
        try {
            AtomicFiles.delete(store.fileOf(id));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "pool: cannot remove {0}: {1}", store.fileOf(id), e.getMessage());
        }
    }

    /** E.g. {@code TPM2 2 of 2 ready, TPM12 0 of 1 ready}. */
    String describe() {
        StringBuilder s = new StringBuilder();
        readyCounts().forEach((f, n) -> {
            if (n > 0 || sizeOf(f) > 0) {
                s.append(s.length() == 0 ? "" : ", ").append(f).append(' ').append(n).append(" of ").append(sizeOf(f)).append(" ready");
            }
        });
        return s.length() == 0 ? "none kept" : s.toString();
    }
}
