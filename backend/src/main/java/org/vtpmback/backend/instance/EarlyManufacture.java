package org.vtpmback.backend.instance;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * Makes a new vTPM while its guest boots, from the moment the backend reaches InitWait, so the guest's
 * first commands do not wait for EK generation. Linux xen-tpmfront sends commands as soon as it probes,
 * before the backend is Connected, and gives each a short timeout; RSA EK generation takes about a second
 * on hardware and over a minute under emulation. The TPM comes from the {@link ManufacturePool} when it has
 * one of the family (its keys are made: only its uuid is bound, as its guest's engine starts), else it is
 * manufactured.
 *
 * <p>Nothing of it is visible until the start mode, decided at connect, is MANUFACTURE: only then is
 * the result taken and stored. Otherwise (a resume for a vTPM this host does not have, an import in
 * between) it is dropped, so it can never hand a guest a TPM that {@link
 * org.vtpmback.backend.state.StartMode} would not have made; a pool entry taken for it is used up.
 *
 * <p>A failed manufacture is tried again at connect. An {@link Error} other than a linkage error is
 * fatal here as on every daemon thread (see {@code SerialExecutor}): it is rethrown on the worker
 * thread, whose uncaught-exception handler (the daemon's: one line, exit 70) decides.
 *
 * <p>{@link #close} ends it with the daemon: a manufacture under way is aborted (its swtpm killed, its folder
 * removed) and one not begun never begins, so no swtpm or runtime folder outlives a stopped daemon's close.
 * Thread-safe.
 */
final class EarlyManufacture {
    private static final System.Logger LOG = System.getLogger(EarlyManufacture.class.getName());

    private static final Duration JOIN = Duration.ofSeconds(10);

    private final AsideManufacture aside;
    private final Optional<ManufacturePool> pool;
    private final Map<Uuid, CompletableFuture<NewTpm>> pending = new ConcurrentHashMap<>();
    /** One at a time: EK generation is CPU-bound, and many new guests at once must not starve the others. */
    private final ExecutorService worker;
    /** Takes pool entries (a durable write), so that they never queue behind a key generation; its thread ends when idle. */
    private final ExecutorService taker;
    /** The blank engines being manufactured (early or at connect), by uuid: {@link #close} kills them. */
    private final Map<Uuid, TpmEngine> making = new ConcurrentHashMap<>();
    private volatile boolean closed;

    EarlyManufacture(EngineBoot boot, Manufacturer manufacturer) {
        this(new AsideManufacture(boot, manufacturer), Optional.empty(), r -> {
            Thread t = new Thread(r, "vtpm-early-manufacture");
            t.setDaemon(true);
            return t;
        });
    }

    /** @param threads makes the worker threads (tests: ones with their own uncaught-exception handler) */
    EarlyManufacture(EngineBoot boot, Manufacturer manufacturer, ThreadFactory threads) {
        this(new AsideManufacture(boot, manufacturer), Optional.empty(), threads);
    }

    EarlyManufacture(AsideManufacture aside, Optional<ManufacturePool> pool, ThreadFactory threads) {
        this.aside = aside;
        this.pool = pool;
        this.worker = Executors.newSingleThreadExecutor(threads);
        ThreadPoolExecutor t = new ThreadPoolExecutor(1, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), threads);
        t.allowCoreThreadTimeOut(true);
        this.taker = t;
    }

    /** Starts making {@code uuid} as {@code family} unless that is already under way. */
    void start(String device, Uuid uuid, TpmFamily family) {
        if (closed) {
            return; // the daemon is stopping: the next one starts it again at InitWait
        }
        pending.computeIfAbsent(uuid, u -> {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1} is new: making it ({2}) while the guest boots", device, u, family);
            CompletableFuture<NewTpm> made = new CompletableFuture<>();
            if (pool.isPresent()) {
                taker.execute(() -> early(made, () -> fromPool(family).orElse(null), () -> manufactureEarly(made, u, family)));
            } else {
                manufactureEarly(made, u, family);
            }
            return made;
        });
    }

    private void manufactureEarly(CompletableFuture<NewTpm> made, Uuid uuid, TpmFamily family) {
        worker.execute(() -> early(made, () -> manufacture(uuid, family), () -> { }));
    }

    /**
     * On a worker: completes {@code made} with what {@code work} makes, or runs {@code otherwise} if it makes
     * nothing. Not {@code supplyAsync}: it keeps every Throwable in the future, so an OutOfMemoryError or
     * StackOverflowError would end up as a warning and a retry at connect.
     */
    private void early(CompletableFuture<NewTpm> made, Supplier<NewTpm> work, Runnable otherwise) {
        if (closed) {
            made.cancel(false); // queued before the stop: never begun
            return;
        }
        try {
            NewTpm tpm = work.get();
            if (tpm != null) {
                made.complete(tpm);
            } else {
                otherwise.run();
            }
        } catch (RuntimeException | LinkageError e) {
            made.completeExceptionally(e); // an ordinary failure: settle tries again at connect
        } catch (Error e) {
            made.completeExceptionally(e); // a connect waiting for it must not wait for ever
            throw e; // fatal: ends the worker thread through its uncaught-exception handler
        }
    }

    /** The new vTPM {@code uuid}: a pool entry, or else one manufactured now. */
    private NewTpm make(Uuid uuid, TpmFamily family) {
        return fromPool(family).orElseGet(() -> manufacture(uuid, family));
    }

    /** A pool entry of {@code family}, taken for good (see {@link ManufacturePool#take}), if the pool has one. */
    private Optional<NewTpm> fromPool(TpmFamily family) {
        return pool.flatMap(p -> p.take(family)).map(NewTpm::readyMade);
    }

    /** Manufactures {@code uuid}; one log line says how long it took, and why the pool did not serve it. */
    private NewTpm manufacture(Uuid uuid, TpmFamily family) {
        long t0 = System.nanoTime();
        NewTpm made;
        try {
            made = NewTpm.manufactured(aside.manufacture(uuid, family, engine -> {
                started(uuid, engine); // a block: void, so the Consumer overload
            }));
        } finally {
            making.remove(uuid);
        }
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: manufactured ({1}) in {2} ms: {3}", uuid, family, millisSince(t0),
                pool.map(p -> p.sizeOf(family) > 0 ? "the pool of ready-made " + family + " TPMs was empty"
                        : "the pool keeps no ready-made " + family + " TPMs").orElse("no pool of ready-made TPMs"));
        return made;
    }

    /** The blank engine of a manufacture, before the manufacturer runs: a close from now on kills it. */
    private void started(Uuid uuid, TpmEngine engine) {
        making.put(uuid, engine);
        if (closed) {
            throw new InstanceException("vTPM manufacture stopped: the daemon is stopping"); // close() may have looked before
        }
    }

    /** Milliseconds since {@code t0}, as a plain number (MessageFormat would group a long's digits). */
    static String millisSince(long t0) {
        return Long.toString((System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * Settles {@code uuid}'s early work once the start mode is decided. For a first start (MANUFACTURE)
     * it returns the TPM made or taken while the guest booted (waiting for it if it is still being
     * made) or, if none was started or it failed, one made or taken now as {@code family}. For any other
     * mode the early result is dropped unseen (a pool entry taken for it is used up) and nothing is returned.
     */
    Optional<NewTpm> settle(String device, Uuid uuid, StartMode mode, TpmFamily family) {
        if (closed) {
            throw new InstanceException(device + ": vTPM " + uuid + " not started: the daemon is stopping");
        }
        if (mode != StartMode.MANUFACTURE) {
            discard(uuid);
            return Optional.empty();
        }
        return Optional.of(takeEarly(device, uuid).orElseGet(() -> make(uuid, family)));
    }

    private Optional<NewTpm> takeEarly(String device, Uuid uuid) {
        CompletableFuture<NewTpm> made = pending.remove(uuid);
        if (made == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(made.get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InstanceException(device + ": interrupted waiting for vTPM " + uuid + " to be manufactured");
        } catch (ExecutionException | CancellationException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: making vTPM {1} while the guest booted failed ({2}); trying"
                    + " again now", device, uuid, e.getCause() != null ? e.getCause().getMessage() : e.toString());
            return Optional.empty();
        }
    }

    private void discard(Uuid uuid) {
        CompletableFuture<NewTpm> made = pending.remove(uuid);
        if (made != null) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: dropping the TPM manufactured early: it is not a first start", uuid);
        }
    }

    /**
     * Ends the early manufactures, for a daemon stop (after its devices detached: no connect waits for one any more):
     * one under way is aborted, its swtpm killed (the worker then removes its folder), one queued is dropped unbegun,
     * a pool entry being taken is left to finish (a durable write is never interrupted). Waits for the threads a
     * little; a later {@link #settle} fails. Idempotent.
     */
    void close() {
        closed = true;
        worker.shutdown();
        taker.shutdown();
        making.values().forEach(engine -> {
            LOG.log(System.Logger.Level.INFO, "stopping: a vTPM being manufactured is dropped (its guest's next start makes it again)");
            engine.abort();
        });
        pending.values().forEach(made -> made.cancel(false));
        pending.clear();
        for (ExecutorService threads : new ExecutorService[] {worker, taker}) {
            try {
                if (!threads.awaitTermination(JOIN.toMillis(), TimeUnit.MILLISECONDS)) {
                    LOG.log(System.Logger.Level.WARNING, "an early manufacture did not stop within {0}", JOIN);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
