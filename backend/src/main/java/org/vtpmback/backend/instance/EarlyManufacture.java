package org.vtpmback.backend.instance;

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
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * Makes a new vTPM while its guest boots, from the moment the backend reaches InitWait, so the guest's
 * first commands do not wait for EK generation. Linux xen-tpmfront sends commands as soon as it probes,
 * before the backend is Connected, and gives each a short timeout; RSA EK generation takes about a second
 * on hardware and over a minute under emulation. The TPM comes from the {@link ManufacturePool} when it has
 * one of the family (its keys are made: only the uuid is bound, in milliseconds), else it is manufactured.
 *
 * <p>Nothing of it is visible until the start mode, decided at connect, is MANUFACTURE: only then is
 * the result taken and stored. Otherwise (a resume for a vTPM this host does not have, an import in
 * between) it is dropped, so it can never hand a guest a TPM that {@link
 * org.vtpmback.backend.state.StartMode} would not have made; a pool entry taken for it is used up.
 *
 * <p>A failed manufacture is tried again at connect. An {@link Error} other than a linkage error is
 * fatal here as on every daemon thread (see {@code SerialExecutor}): it is rethrown on the worker
 * thread, whose uncaught-exception handler (the daemon's: one line, exit 70) decides. Thread-safe.
 */
final class EarlyManufacture {
    private static final System.Logger LOG = System.getLogger(EarlyManufacture.class.getName());

    private final AsideManufacture aside;
    private final Optional<ManufacturePool> pool;
    private final Map<Uuid, CompletableFuture<byte[]>> pending = new ConcurrentHashMap<>();
    /** One at a time: EK generation is CPU-bound, and many new guests at once must not starve the others. */
    private final ExecutorService worker;
    /** Takes and binds pool entries, so that they never queue behind a key generation; its thread ends when idle. */
    private final ExecutorService binder;

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
        ThreadPoolExecutor b = new ThreadPoolExecutor(1, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), threads);
        b.allowCoreThreadTimeOut(true);
        this.binder = b;
    }

    /** Starts making {@code uuid} as {@code family} unless that is already under way. */
    void start(String device, Uuid uuid, TpmFamily family) {
        pending.computeIfAbsent(uuid, u -> {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1} is new: making it ({2}) while the guest boots", device, u, family);
            CompletableFuture<byte[]> made = new CompletableFuture<>();
            if (pool.isPresent()) {
                binder.execute(() -> early(made, () -> fromPool(u, family).orElse(null), () -> manufactureEarly(made, u, family)));
            } else {
                manufactureEarly(made, u, family);
            }
            return made;
        });
    }

    private void manufactureEarly(CompletableFuture<byte[]> made, Uuid uuid, TpmFamily family) {
        worker.execute(() -> early(made, () -> manufacture(uuid, family), () -> { }));
    }

    /**
     * On a worker: completes {@code made} with what {@code work} makes, or runs {@code otherwise} if it makes
     * nothing. Not {@code supplyAsync}: it keeps every Throwable in the future, so an OutOfMemoryError or
     * StackOverflowError would end up as a warning and a retry at connect.
     */
    private static void early(CompletableFuture<byte[]> made, Supplier<byte[]> work, Runnable otherwise) {
        try {
            byte[] permanent = work.get();
            if (permanent != null) {
                made.complete(permanent);
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

    /**
     * The permanent state of the new vTPM {@code uuid}: a pool entry bound to it, or else one manufactured now.
     * Logs one line: where it came from, how long it took.
     */
    private byte[] make(Uuid uuid, TpmFamily family) {
        return fromPool(uuid, family).orElseGet(() -> manufacture(uuid, family));
    }

    /** A pool entry of {@code family} bound to {@code uuid}, if the pool has one. */
    private Optional<byte[]> fromPool(Uuid uuid, TpmFamily family) {
        long t0 = System.nanoTime();
        Optional<ManufacturePool.Entry> entry = pool.flatMap(p -> p.take(family));
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        byte[] bound = pool.orElseThrow().bind(entry.get(), uuid);
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: from the pool of ready-made TPMs ({1} entry {2}): taken and bound in {3}"
                + " ms; pool: {4}", uuid, family, entry.get().id(), millisSince(t0), pool.orElseThrow().describe());
        return Optional.of(bound);
    }

    private byte[] manufacture(Uuid uuid, TpmFamily family) {
        long t0 = System.nanoTime();
        byte[] made = aside.manufacture(uuid, family);
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: manufactured ({1}) in {2} ms: {3}", uuid, family, millisSince(t0),
                pool.map(p -> p.sizeOf(family) > 0 ? "the pool of ready-made " + family + " TPMs was empty"
                        : "the pool keeps no ready-made " + family + " TPMs").orElse("no pool of ready-made TPMs"));
        return made;
    }

    /** Milliseconds since {@code t0}, as a plain number (MessageFormat would group a long's digits). */
    static String millisSince(long t0) {
        return Long.toString((System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * Settles {@code uuid}'s early work once the start mode is decided. For a first start (MANUFACTURE)
     * it returns the permanent state made while the guest booted (waiting for it if it is still being
     * made) or, if none was started or it failed, one made now as {@code family}. For any other mode
     * the early result is dropped unseen and nothing is returned.
     */
    Optional<byte[]> settle(String device, Uuid uuid, StartMode mode, TpmFamily family) {
        if (mode != StartMode.MANUFACTURE) {
            discard(uuid);
            return Optional.empty();
        }
        return Optional.of(takeEarly(device, uuid).orElseGet(() -> make(uuid, family)));
    }

    private Optional<byte[]> takeEarly(String device, Uuid uuid) {
        CompletableFuture<byte[]> made = pending.remove(uuid);
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
        CompletableFuture<byte[]> made = pending.remove(uuid);
        if (made != null) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: dropping the TPM manufactured early: it is not a first start", uuid);
        }
    }
}
