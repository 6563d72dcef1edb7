package org.vtpmback.backend.instance;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * Manufactures a new vTPM while its guest boots, from the moment the backend reaches InitWait, so the
 * guest's first commands do not wait for EK generation. Linux xen-tpmfront sends commands as soon as
 * it probes, before the backend is Connected, and gives each a short timeout; RSA EK generation takes
 * about a second on hardware and over a minute under emulation.
 *
 * <p>Nothing of it is visible until the start mode, decided at connect, is MANUFACTURE: only then is
 * the result taken and stored. Otherwise (a resume for a vTPM this host does not have, an import in
 * between) it is dropped, so it can never hand a guest a TPM that {@link
 * org.vtpmback.backend.state.StartMode} would not have made.
 *
 * <p>A failed manufacture is tried again at connect. An {@link Error} other than a linkage error is
 * fatal here as on every daemon thread (see {@code SerialExecutor}): it is rethrown on the worker
 * thread, whose uncaught-exception handler (the daemon's: one line, exit 70) decides. Thread-safe.
 */
final class EarlyManufacture {
    private static final System.Logger LOG = System.getLogger(EarlyManufacture.class.getName());

    private final AsideManufacture aside;
    private final Map<Uuid, CompletableFuture<byte[]>> pending = new ConcurrentHashMap<>();
    /** One at a time: EK generation is CPU-bound, and many new guests at once must not starve the others. */
    private final ExecutorService worker;

    EarlyManufacture(EngineBoot boot, Manufacturer manufacturer) {
        this(boot, manufacturer, r -> {
            Thread t = new Thread(r, "vtpm-early-manufacture");
            t.setDaemon(true);
            return t;
        });
    }

    /** @param threads makes the worker thread (tests: one with its own uncaught-exception handler) */
    EarlyManufacture(EngineBoot boot, Manufacturer manufacturer, ThreadFactory threads) {
        this.aside = new AsideManufacture(boot, manufacturer);
        this.worker = Executors.newSingleThreadExecutor(threads);
    }

    /** Starts manufacturing {@code uuid} as {@code family} unless that is already under way. */
    void start(String device, Uuid uuid, TpmFamily family) {
        pending.computeIfAbsent(uuid, u -> {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1} is new: manufacturing it ({2}) while the guest boots", device, u, family);
            CompletableFuture<byte[]> made = new CompletableFuture<>();
            worker.execute(() -> manufactureEarly(made, u, family));
            return made;
        });
    }

    /**
     * On the worker. Not {@code supplyAsync}: it keeps every Throwable in the future, so an
     * OutOfMemoryError or StackOverflowError would end up as a warning and a retry at connect.
     */
    private void manufactureEarly(CompletableFuture<byte[]> made, Uuid uuid, TpmFamily family) {
        try {
            made.complete(aside.manufacture(uuid, family));
        } catch (RuntimeException | LinkageError e) {
            made.completeExceptionally(e); // an ordinary failure: settle tries again at connect
        } catch (Error e) {
            made.completeExceptionally(e); // a connect waiting for it must not wait for ever
            throw e; // fatal: ends the worker thread through its uncaught-exception handler
        }
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
        return Optional.of(takeEarly(device, uuid).orElseGet(() -> aside.manufacture(uuid, family)));
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
            LOG.log(System.Logger.Level.WARNING, "{0}: manufacturing vTPM {1} while the guest booted failed ({2}); trying"
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
