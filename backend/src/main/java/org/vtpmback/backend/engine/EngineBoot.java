package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import org.apache.commons.io.file.PathUtils;
import org.vtpmback.xen.DomainId;

/**
 * The one place an engine is brought up for a vTPM: it gives the engine a fresh private folder under
 * the runtime directory, names it, starts swtpm through the {@link EngineFactory}, loads the state and,
 * for a boot, sends the Startup(CLEAR) that Linux xen-tpmfront never sends. It also knows swtpm's file
 * names in that folder. Whatever fails on the way, the engine is closed before the exception leaves.
 * Thread-safe (no state besides the factory and the runtime directory).
 */
public final class EngineBoot {
    private static final System.Logger LOG = System.getLogger(EngineBoot.class.getName());

    private final EngineFactory engines;
    private final Path runtimeDir;

    /**
     * @param runtimeDir where the engines' folders live ({@code <runtime-dir>/instances}, a tmpfs): one
     *                   per vTPM uuid, and {@code <uuid>.new} while one is manufactured
     */
    public EngineBoot(EngineFactory engines, Path runtimeDir) {
        this.engines = engines;
        this.runtimeDir = runtimeDir;
    }

    /** The runtime folder of vTPM {@code vtpm}'s engine. */
    public Path folderOf(String vtpm) {
        return runtimeDir.resolve(vtpm);
    }

    /**
     * Starts the engine of vTPM {@code vtpm} for the guest {@code guest} on {@code blobs}. With a volatile
     * blob the TPM continues exactly where it was saved (INIT(DELETE_VOLATILE), no Startup: swtpm flow b);
     * without one it boots: permanent state only, so no leftover volatile file can turn a boot into a
     * resume (swtpm trap 3), then Startup(CLEAR).
     *
     * @param vtpm the vTPM's uuid, canonical
     * @return a running engine, owned by the caller
     * @throws EngineException if swtpm cannot be started, rejects the state or the Startup
     */
    public TpmEngine start(String vtpm, DomainId guest, TpmFamily family, StateBlobs blobs) {
        return start(spawnEmpty(vtpm, guest, family), blobs);
    }

    /**
     * Spawns vTPM {@code vtpm}'s swtpm for the guest {@code guest} in the vTPM's fresh runtime folder, and stops
     * there: no state loaded, the TPM not INITed (so swtpm writes no state file into the folder; a crash take-over
     * finds nothing to continue there). {@link #start(TpmEngine, StateBlobs)} makes it the guest's TPM.
     *
     * @return the engine, owned by the caller
     * @throws EngineException if swtpm cannot be started
     */
    public TpmEngine spawnEmpty(String vtpm, DomainId guest, TpmFamily family) {
        // leftovers of an earlier engine (or a crashed daemon) are never reused: the store is the truth
        return engines.create(guestEngineName(vtpm, guest), family, fresh(folderOf(vtpm)));
    }

    /**
     * As {@link #start(String, DomainId, TpmFamily, StateBlobs)}, on an engine {@link #spawnEmpty} made: loads
     * {@code blobs} and, for a boot, sends the Startup(CLEAR). Closes the engine if that fails.
     */
    public TpmEngine start(TpmEngine engine, StateBlobs blobs) {
        try {
            engine.restoreState(blobs);
            if (blobs.volatileState().isEmpty()) {
                startupClear(engine);
            }
            return engine;
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    /**
     * Starts vTPM {@code vtpm}'s engine clear, from its permanent state, for a guest that keeps running
     * (its swtpm died, or the daemon restarted without a snapshot), and marks every PCR with the
     * {@link RestartMark} before anyone else sees it: a clear start must never give a running guest the
     * PCR values of a boot to replay.
     *
     * @throws EngineException if swtpm cannot be started, rejects the state, the Startup or the mark
     */
    public TpmEngine startUnderRunningGuest(String vtpm, DomainId guest, TpmFamily family, byte[] permanent) {
        TpmEngine engine = start(vtpm, guest, family, new StateBlobs(permanent, Optional.empty()));
        try {
            RestartMark.extendAll(engine);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        LOG.log(System.Logger.Level.WARNING, "vTPM {0} of domain {1}: restarted clear under the running guest; PCRs 0-{2} extended"
                + " in every bank with the restart mark \"{3}\" (its measurements before the restart are gone and cannot be replayed)",
                vtpm, guest, RestartMark.PCRS - 1, RestartMark.EVENT);
        return engine;
    }

    /**
     * A blank TPM for manufacturing vTPM {@code vtpm} aside from any guest: {@code _TPM_Init} on empty
     * state, then Startup(CLEAR), in the folder {@link #blankFolderOf}: not a uuid, so after a crash
     * nothing of it is ever taken over.
     */
    public TpmEngine startBlank(String vtpm, TpmFamily family) {
        TpmEngine engine = engines.create("new-" + shortForm(vtpm), family, fresh(blankFolderOf(vtpm)));
        try {
            engine.initClear();
            startupClear(engine);
            return engine;
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    /** The folder {@link #startBlank} uses for vTPM {@code vtpm}. */
    public Path blankFolderOf(String vtpm) {
        return runtimeDir.resolve(vtpm + ".new");
    }

    /**
     * A copy of vTPM {@code vtpm}'s stored TPM, started clear aside from any guest so that it can be read (its
     * EK): in the folder {@link #copyFolderOf}. Nothing of it is ever saved back; the caller closes it and
     * removes that folder.
     */
    public TpmEngine startCopy(String vtpm, TpmFamily family, byte[] permanent) {
        return startAside("read-" + shortForm(vtpm), family, permanent, copyFolderOf(vtpm));
    }

    private TpmEngine startAside(String name, TpmFamily family, byte[] permanent, Path folder) {
        TpmEngine engine = engines.create(name, family, fresh(folder));
        try {
            engine.restoreState(new StateBlobs(permanent, Optional.empty()));
            startupClear(engine);
            return engine;
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    /**
     * The folder {@link #startCopy} uses for vTPM {@code vtpm}. Its {@code ctrl} socket is the longest path any swtpm
     * gets: in a command's folder ({@code <runtime-dir>/c<pid>}, hotplug's CommandEngines) with runtime-dir at its
     * 50-byte limit and a 7-digit pid (Linux's largest) it is exactly 106 bytes, the most an AF_UNIX path may have
     * from Java; no byte may be added to this name (ProvisioningTest#createAndInspectWorkAtTheLongestSocketPathsACommandCanHave).
     */
    public Path copyFolderOf(String vtpm) {
        return runtimeDir.resolve(vtpm + ".read");
    }

    /** Removes an engine's folder once the engine is closed; a failure is logged, not thrown (teardown goes on). */
    public static void removeFolder(Path dir) {
        try {
            if (Files.exists(dir)) {
                PathUtils.deleteDirectory(dir);
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove runtime folder {0}: {1}", dir, e.getMessage());
        }
    }

    /**
     * Takes over vTPM {@code vtpm}'s engine as the last daemon left it running for the guest
     * {@code guest}: no Startup, no state loaded, the TPM goes on as it is.
     *
     * @throws EngineException if it cannot be taken over (it is stopped then)
     */
    public TpmEngine adopt(SurvivingEngine live, String vtpm, DomainId guest, TpmFamily family) {
        return live.adopt(guestEngineName(vtpm, guest), family);
    }

    /** See {@link EngineFactory#takeOverSurvivor}. */
    public Optional<StateBlobs> takeOverSurvivor(Path dir) {
        return engines.takeOverSurvivor(dir);
    }

    /** The file swtpm rewrites in {@code dir} whenever the permanent state of a {@code family} TPM changes. */
    public static Path permanentStateFile(TpmFamily family, Path dir) {
        return dir.resolve(family.permanentStateFile());
    }

    /** Engine names: unique among live engines (one per uuid), short enough for a UNIX socket path. */
    static String guestEngineName(String vtpm, DomainId guest) {
        return "vtpm-" + shortForm(vtpm) + "-d" + guest.value();
    }

    private static String shortForm(String vtpm) {
        return vtpm.substring(0, Math.min(8, vtpm.length()));
    }

    /** An empty folder of the daemon's own (0700), whatever was there before. */
    private Path fresh(Path dir) {
        try {
            Files.createDirectories(runtimeDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            if (Files.isSymbolicLink(dir)) {
                Files.delete(dir); // the link itself, never what it points to
            } else if (Files.exists(dir)) {
                PathUtils.deleteDirectory(dir);
            }
            // createDirectory never follows a link and fails if anything is there: the folder is ours
            return Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new EngineException("cannot prepare runtime folder " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void startupClear(TpmEngine engine) {
        int rc = engine.sendStartupClear();
        if (rc != 0) {
            throw new EngineException("TPM Startup(CLEAR) failed with TPM rc 0x" + Integer.toHexString(rc));
        }
    }
}
