package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.LinkOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.IntPredicate;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.vtpmback.process.ProcessExits;
import org.vtpmback.process.WatchedProcess;

/**
 * A swtpm that outlived the daemon that started it (kill -9, OOM kill, JVM crash), found through the
 * pid file {@link SwtpmLauncher} has it write into its runtime folder. That folder is writable by
 * swtpm, and swtpm parses guest bytes, so everything in it is untrusted: the pid it names is taken
 * for the daemon's swtpm only if
 * <ul>
 * <li>the folder is a real directory (not a symlink) owned by a user the launcher gives swtpm,</li>
 * <li>the process runs as exactly that user (real, effective, saved and file-system uid), so one
 *     vTPM's swtpm can never be passed off as another's,</li>
 * <li>its {@code /proc/<pid>/exe} is the configured swtpm executable (a process can rewrite its
 *     command line, not its executable),</li>
 * <li>its command line runs on exactly that folder ({@code --tpmstate dir=<folder>,});</li>
 * </ul>
 * and its ctrl socket is the one derived from the folder ({@link SwtpmLauncher#ctrlSocket}), whose
 * listener must be that same user ({@code SO_PEERCRED}), so a symlink planted there leads nowhere.
 * A process that fails a check is not taken over (a recycled pid fails them); one in the jail's uid
 * range is then killed by {@link SwtpmStrays}, never left alive.
 * Blob lengths it answers are bounded by {@link SwtpmCtrl#MAX_STATE_BLOB}.
 */
final class SwtpmSurvivor {
    private static final System.Logger LOG = System.getLogger(SwtpmSurvivor.class.getName());
    static final String PID_FILE = "swtpm.pid";
    private static final Duration EXIT_WAIT = Duration.ofSeconds(5);
    private static final int MAX_PID_FILE_BYTES = 32;
    private static final String DELETED = " (deleted)";

    /** Watched by the daemon's one exit watcher (the JDK would poll a process that is not its child from a thread each). */
    private final WatchedProcess process;
    private final int uid;
    private final Path stateDir;

    private SwtpmSurvivor(WatchedProcess process, int uid, Path stateDir) {
        this.process = process;
        this.uid = uid;
        this.stateDir = stateDir;
    }

    /**
     * The live swtpm on {@code stateDir}, if its pid file names one that passes every check above.
     *
     * @param swtpm        the real path of the swtpm executable the launcher runs
     * @param swtpmOwner   whether a uid is one the launcher gives swtpm
     */
    static Optional<SwtpmSurvivor> find(Path stateDir, Path swtpm, IntPredicate swtpmOwner) {
        Optional<Integer> owner = folderOwner(stateDir);
        if (owner.isEmpty()) {
            return Optional.empty();
        }
        if (!swtpmOwner.test(owner.get())) {
            return distrust(stateDir, "the folder belongs to uid " + owner.get() + ", not to a user swtpm runs as");
        }
        Optional<Long> pid = pidOf(stateDir);
        Optional<ProcessHandle> process = pid.flatMap(ProcessHandle::of).filter(ProcessHandle::isAlive);
        if (process.isEmpty()) {
            return Optional.empty();
        }
        ProcessHandle p = process.get();
        // The pidfd first, the checks after: they then inspect the very process the pidfd holds (a pid recycled
        // before the pidfd was opened is a process that fails them; one recycled after, a start time that changed).
        WatchedProcess watched = ProcessExits.shared().watch(p.pid());
        Optional<String> mismatch = mismatch(p, stateDir, swtpm, owner.get());
        if (mismatch.isEmpty() && !watched.isAlive()) {
            mismatch = Optional.of("exited while being inspected");
        }
        if (mismatch.isPresent()) {
            ProcessExits.shared().forget(watched);
            return distrust(stateDir, "pid " + p.pid() + " " + mismatch.get());
        }
        return Optional.of(new SwtpmSurvivor(watched, owner.get(), stateDir));
    }

    private static Optional<SwtpmSurvivor> distrust(Path stateDir, String why) {
        LOG.log(Level.WARNING, "not taking over a swtpm on {0}: {1}", stateDir, why);
        return Optional.empty();
    }

    private static Optional<Integer> folderOwner(Path stateDir) {
        try {
            BasicFileAttributes a = Files.readAttributes(stateDir, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isDirectory()) {
                LOG.log(Level.WARNING, "not taking over a swtpm on {0}: not a directory (a symlink?)", stateDir);
                return Optional.empty();
            }
            return Optional.of((Integer) Files.getAttribute(stateDir, "unix:uid", LinkOption.NOFOLLOW_LINKS));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new EngineException("cannot inspect " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /** The pid swtpm wrote; read without following a symlink and at most {@value #MAX_PID_FILE_BYTES} bytes. */
    private static Optional<Long> pidOf(Path stateDir) {
        Path file = stateDir.resolve(PID_FILE);
        String text;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile() || a.size() > MAX_PID_FILE_BYTES) {
                LOG.log(Level.WARNING, "ignoring {0}: not a small regular file", file);
                return Optional.empty();
            }
            try (SeekableByteChannel ch = Files.newByteChannel(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                ByteBuffer buf = ByteBuffer.allocate(MAX_PID_FILE_BYTES);
                while (buf.hasRemaining() && ch.read(buf) > 0) {
                    // a regular file: reads end at its end
                }
                text = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).strip();
            }
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new EngineException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (!text.matches("[1-9][0-9]{0,9}")) {
            LOG.log(Level.WARNING, "ignoring {0}: not a pid", file);
            return Optional.empty();
        }
        return Optional.of(Long.parseLong(text));
    }

    /** What disqualifies {@code p}, if anything; the checks are made again if the pid was recycled meanwhile. */
    private static Optional<String> mismatch(ProcessHandle p, Path stateDir, Path swtpm, int owner) {
        Optional<java.time.Instant> started = p.info().startInstant();
        Optional<String> why;
        try {
            why = mismatchNow(p.pid(), stateDir, swtpm, owner);
        } catch (IOException e) {
            why = Optional.of("cannot be inspected (" + e.getMessage() + ")");
        }
        if (!p.isAlive() || !p.info().startInstant().equals(started)) {
            return Optional.of("exited while being inspected");
        }
        return why;
    }

    private static Optional<String> mismatchNow(long pid, Path stateDir, Path swtpm, int owner) throws IOException {
        Path proc = Path.of("/proc", Long.toString(pid));
        List<Integer> uids = uidsOf(proc);
        if (!uids.stream().allMatch(u -> u == owner)) {
            return Optional.of("runs as uids " + uids + ", not as the folder's uid " + owner);
        }
        String exe = Files.readSymbolicLink(proc.resolve("exe")).toString();
        // a swtpm started before its package was upgraded still is that swtpm
        if (!exe.equals(swtpm.toString()) && !exe.equals(swtpm + DELETED)) {
            return Optional.of("runs " + exe + ", not " + swtpm);
        }
        List<String> args = argumentsOf(proc);
        if (!runsOn(args, stateDir)) {
            return Optional.of("is not a swtpm socket server on this folder");
        }
        return Optional.empty();
    }

    /** Real, effective, saved and file-system uid, from {@code /proc/<pid>/status}. */
    static List<Integer> uidsOf(Path proc) throws IOException {
        for (String line : Files.readAllLines(proc.resolve("status"), StandardCharsets.UTF_8)) {
            if (line.startsWith("Uid:")) {
                return Arrays.stream(line.substring(4).trim().split("\\s+")).map(Integer::valueOf).toList();
            }
        }
        throw new IOException(proc + "/status has no Uid line");
    }

    private static List<String> argumentsOf(Path proc) throws IOException {
        byte[] raw = Files.readAllBytes(proc.resolve("cmdline"));
        List<String> args = new ArrayList<>(List.of(new String(raw, StandardCharsets.UTF_8).split("\0")));
        return args.isEmpty() ? args : args.subList(1, args.size());
    }

    /** Whether {@code args} (without argv[0]), as {@link SwtpmLauncher} builds them, run a swtpm socket server on exactly {@code stateDir}. */
    static boolean runsOn(List<String> args, Path stateDir) {
        int tpmstate = args.indexOf("--tpmstate");
        return !args.isEmpty() && args.get(0).equals("socket") && tpmstate >= 0 && tpmstate + 1 < args.size()
                && args.get(tpmstate + 1).startsWith("dir=" + stateDir + ",");
    }

    long pid() {
        return process.pid();
    }

    WatchedProcess process() {
        return process;
    }

    int uid() {
        return uid;
    }

    Path stateDir() {
        return stateDir;
    }

    /**
     * Its ctrl channel, once its listener proved to be the folder's user (a symlink planted there
     * leads nowhere).
     */
    SwtpmCtrl connectCtrl(String name, Duration ctrlTimeout) throws IOException {
        SwtpmCtrl ctrl = SwtpmCtrl.connect(name, SwtpmCommand.ctrlSocket(stateDir), ctrlTimeout);
        UserPrincipal peer = ctrl.peerUser();
        if (!peer.equals(SwtpmLauncher.user(uid))) {
            ctrl.close();
            throw new EngineException("its ctrl socket is served by user " + peer.getName() + ", not by uid " + uid);
        }
        return ctrl;
    }

    /**
     * Reads the TPM's permanent and volatile state (the guest's PCRs, sessions and loaded objects)
     * and leaves it running. A command the last daemon had sent is finished first: swtpm answers
     * its ctrl channel between data commands.
     *
     * @return the state, or empty if the TPM was not running (the daemon stopped while starting or
     *         stopping it: then the store already holds everything there is)
     * @throws EngineException if it does not answer; it is stopped then
     */
    Optional<StateBlobs> runningState(Duration ctrlTimeout) {
        String name = "survivor pid " + process.pid();
        try (SwtpmCtrl ctrl = connectCtrl(name, ctrlTimeout)) {
            return runningState(ctrl);
        } catch (IOException | EngineException e) {
            stop();
            throw new EngineException("swtpm[" + name + "] on " + stateDir + " (ctrl " + SwtpmCommand.ctrlSocket(stateDir)
                    + ") did not hand over its state: " + e.getMessage(), e);
        }
    }

    /** {@code CMD_SHUTDOWN}, then {@link #stop()}: gone when this returns. */
    void shutdown(Duration ctrlTimeout) {
        String name = "survivor pid " + process.pid();
        try (SwtpmCtrl ctrl = connectCtrl(name, ctrlTimeout)) {
            ctrl.shutdown(ctrlTimeout);
        } catch (IOException | EngineException e) {
            LOG.log(Level.DEBUG, "swtpm[{0}] CMD_SHUTDOWN failed, killing it: {1}", name, e.toString());
        }
        stop();
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
            process.kill();
            try {
                process.onExit().get(EXIT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e2) {
                throw new EngineException("swtpm pid " + process.pid() + " on " + stateDir + " did not exit after SIGKILL", e2);
            } catch (InterruptedException e2) {
                Thread.currentThread().interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.kill();
        }
    }
}
