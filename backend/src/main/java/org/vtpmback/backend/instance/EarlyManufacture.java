package org.vtpmback.backend.instance;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.commons.io.file.PathUtils;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AtomicFiles;
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
 * org.vtpmback.backend.state.StartMode} would not have made. Thread-safe.
 */
final class EarlyManufacture {
    private static final System.Logger LOG = System.getLogger(EarlyManufacture.class.getName());

    private final EngineFactory engines;
    private final Manufacturer manufacturer;
    private final Path runtimeDir;
    private final Map<Uuid, CompletableFuture<byte[]>> pending = new ConcurrentHashMap<>();
    /** One at a time: EK generation is CPU-bound, and many new guests at once must not starve the others. */
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vtpm-early-manufacture");
        t.setDaemon(true);
        return t;
    });

    EarlyManufacture(EngineFactory engines, Manufacturer manufacturer, Path runtimeDir) {
        this.engines = engines;
        this.manufacturer = manufacturer;
        this.runtimeDir = runtimeDir;
    }

    /** Starts manufacturing {@code uuid} as {@code family} unless that is already under way. */
    void start(String device, Uuid uuid, TpmFamily family) {
        pending.computeIfAbsent(uuid, u -> {
            LOG.log(System.Logger.Level.INFO, "{0}: vTPM {1} is new: manufacturing it ({2}) while the guest boots", device, u, family);
            return CompletableFuture.supplyAsync(() -> manufactureAside(u, family), worker);
        });
    }

    /**
     * The permanent state made for {@code uuid}, waiting for it if it is still being made; empty if
     * none was started or it failed (the caller then manufactures inline).
     */
    Optional<byte[]> take(String device, Uuid uuid) {
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

    /** Forgets {@code uuid}'s early result: the start mode was not MANUFACTURE. */
    void discard(Uuid uuid) {
        CompletableFuture<byte[]> made = pending.remove(uuid);
        if (made != null) {
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: dropping the TPM manufactured early: it is not a first start", uuid);
        }
    }

    private byte[] manufactureAside(Uuid uuid, TpmFamily family) {
        // not a uuid: after a crash, recoverAfterCrash stops a swtpm left here and keeps nothing of it
        Path dir = runtimeDir.resolve(uuid + ".new");
        try {
            if (dir.toFile().exists()) {
                PathUtils.deleteDirectory(dir);
            }
            AtomicFiles.createPrivateDirectory(dir);
        } catch (IOException e) {
            throw new InstanceException("cannot prepare " + dir + ": " + e.getMessage(), e);
        }
        TpmEngine engine = engines.create("new-" + uuid.shortForm(), family, dir);
        try {
            return manufacture(engine, manufacturer, uuid);
        } finally {
            engine.close();
            try {
                PathUtils.deleteDirectory(dir);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove {0}: {1}", dir, e.getMessage());
            }
        }
    }

    /** Factory identity on a fresh TPM, then an orderly shutdown; returns the permanent state. */
    static byte[] manufacture(TpmEngine engine, Manufacturer manufacturer, Uuid uuid) {
        engine.initClear();
        PersistentInstances.startup(engine);
        manufacturer.manufacture(engine, uuid);
        engine.shutdownOrderly();
        return engine.saveState(false).permanent();
    }
}
