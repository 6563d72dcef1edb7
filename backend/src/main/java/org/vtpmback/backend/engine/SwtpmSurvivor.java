package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A swtpm that outlived the daemon that started it (kill -9, OOM kill, JVM crash): found through the
 * pid file {@link SwtpmLauncher} has it write into its state dir, and recognised by its own command
 * line (its {@code --tpmstate dir=} is that state dir), so a recycled pid is never taken for it. Its
 * TPM still holds the guest's running state, which a new daemon takes before stopping it.
 */
final class SwtpmSurvivor {
    private static final System.Logger LOG = System.getLogger(SwtpmSurvivor.class.getName());
    static final String PID_FILE = "swtpm.pid";
    private static final Duration EXIT_WAIT = Duration.ofSeconds(5);

    private final ProcessHandle process;
    private final Path ctrlSocket;
    private final Path stateDir;

    private SwtpmSurvivor(ProcessHandle process, Path ctrlSocket, Path stateDir) {
        this.process = process;
        this.ctrlSocket = ctrlSocket;
        this.stateDir = stateDir;
    }

    /** The live swtpm on {@code stateDir}, if its pid file names one whose command line proves it. */
    static Optional<SwtpmSurvivor> find(Path stateDir) {
        String pidText;
        try {
            pidText = Files.readString(stateDir.resolve(PID_FILE), StandardCharsets.US_ASCII).strip();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new EngineException("cannot read " + stateDir.resolve(PID_FILE) + ": " + e.getMessage(), e);
        }
        if (!pidText.matches("[1-9][0-9]{0,9}")) {
            LOG.log(Level.WARNING, "ignoring {0}: not a pid: ''{1}''", stateDir.resolve(PID_FILE), pidText);
            return Optional.empty();
        }
        return ProcessHandle.of(Long.parseLong(pidText))
                .filter(ProcessHandle::isAlive)
                .flatMap(p -> p.info().arguments().flatMap(args -> ctrlSocketOf(List.of(args), stateDir))
                        .map(ctrl -> new SwtpmSurvivor(p, ctrl, stateDir)));
    }

    /**
     * The ctrl socket from an argument list as {@link SwtpmLauncher} builds it, if that list runs a
     * swtpm socket server on exactly {@code stateDir}.
     */
    static Optional<Path> ctrlSocketOf(List<String> args, Path stateDir) {
        int tpmstate = args.indexOf("--tpmstate");
        int ctrl = args.indexOf("--ctrl");
        if (!args.contains("socket") || tpmstate < 0 || ctrl < 0 || tpmstate + 1 >= args.size() || ctrl + 1 >= args.size()
                || !args.get(tpmstate + 1).startsWith("dir=" + stateDir + ",")) {
            return Optional.empty();
        }
        for (String option : args.get(ctrl + 1).split(",")) {
            if (option.startsWith("path=")) {
                return Optional.of(Path.of(option.substring("path=".length())));
            }
        }
        return Optional.empty();
    }

    long pid() {
        return process.pid();
    }

    /**
     * Takes the TPM's permanent and volatile state (the guest's PCRs, sessions and loaded objects),
     * then makes swtpm exit. A command the dead daemon had sent is finished first: swtpm answers its
     * ctrl channel between data commands.
     *
     * @return the state, or empty if the TPM was not running (the daemon died while starting or
     *         stopping it: then the store already holds everything there is)
     */
    Optional<StateBlobs> takeStateAndStop(Duration ctrlTimeout) {
        String name = "survivor pid " + process.pid();
        Optional<StateBlobs> blobs;
        try (SwtpmCtrl ctrl = SwtpmCtrl.connect(name, ctrlSocket, ctrlTimeout)) {
            blobs = runningState(ctrl);
            try {
                ctrl.shutdown(ctrlTimeout);
            } catch (IOException | EngineException e) {
                LOG.log(Level.DEBUG, "swtpm[{0}] CMD_SHUTDOWN failed, killing it: {1}", name, e.toString());
            }
        } catch (IOException | EngineException e) {
            stop();
            throw new EngineException("swtpm[" + name + "] on " + stateDir + " (ctrl " + ctrlSocket + ") did not hand over"
                    + " its state: " + e.getMessage(), e);
        }
        stop();
        return blobs;
    }

    private static Optional<StateBlobs> runningState(SwtpmCtrl ctrl) throws IOException {
        byte[] permanent;
        try {
            permanent = ctrl.getStateBlob(SwtpmCtrl.BLOB_PERMANENT);
        } catch (EngineException e) {
            if (e.resultCode() == SwtpmCtrl.TPM_NOT_RUNNING) {
                return Optional.empty();
            }
            throw e;
        }
        return Optional.of(new StateBlobs(permanent, Optional.of(ctrl.getStateBlob(SwtpmCtrl.BLOB_VOLATILE))));
    }

    /** Waits briefly for the exit, then SIGKILL, so the state-dir lock is free when this returns. */
    void stop() {
        try {
            process.onExit().get(EXIT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            process.destroyForcibly();
            try {
                process.onExit().get(EXIT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e2) {
                throw new EngineException("swtpm pid " + process.pid() + " on " + stateDir + " did not exit after SIGKILL", e2);
            } catch (InterruptedException e2) {
                Thread.currentThread().interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
