package org.vtpmback.backend.engine;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.vtpmback.process.ExitStatus;
import org.vtpmback.process.WatchedProcess;

/**
 * One swtpm process and its log file: spawned by this daemon, or adopted from the daemon before it
 * (a survivor, which is not our child: its exit code is not ours to read). Either way its exit is seen
 * by the daemon's one {@link org.vtpmback.process.ProcessExits} thread, not by a JDK thread per process.
 * Owned by one engine (or by the launcher until the engine exists). Thread-safe: {@link WatchedProcess} is.
 */
final class SwtpmProcess {
    private static final int TAIL_BYTES = 4096;
    private static final long REAP_POLL_MS = 100;
    private static final int REAP_POLLS = 50;

    private final WatchedProcess process;
    private final SwtpmRuntimeFiles files;
    /** The name its log is under ({@link SwtpmRuntimeFiles#log}). */
    private final String logName;
    private final Path logFile;
    private final int uid;

    /**
     * {@code process}: the daemon's child, or a swtpm the last daemon started, still running; {@code logName}: the name
     * its log (its stdout) is under in {@code files}; {@code uid}: the user swtpm runs as (its own in the jail, else
     * the daemon's).
     */
    SwtpmProcess(WatchedProcess process, SwtpmRuntimeFiles files, String logName, int uid) {
        this.process = process;
        this.files = files;
        this.logName = logName;
        this.logFile = files.log(logName);
        this.uid = uid;
    }

    int uid() {
        return uid;
    }

    long pid() {
        return process.pid();
    }

    /** False only once it is gone (a child: reaped, so its uid and pid are free). */
    boolean isAlive() {
        return process.isAlive();
    }

    /** Completes on the watcher's thread: what depends on it must be short. */
    CompletableFuture<?> onExit() {
        return process.onExit();
    }

    /**
     * "pid N exit code C", "pid N killed by signal S", "pid N exited" (a survivor) or "pid N running", for log
     * messages.
     */
    String describe() {
        return process.toString();
    }

    /** SIGKILL (through its pidfd: never another process that got its pid), without waiting; any thread. */
    void kill() {
        process.kill();
    }

    /**
     * Waits up to {@code grace} for the process to exit by itself, then kills it (SIGKILL: a hung
     * swtpm ignores nothing else reliably) and waits for it to be gone, so its state-dir lock is
     * released when this returns.
     */
    void stop(Duration grace) {
        boolean interrupted = false;
        try {
            onExit().get(grace.toMillis(), TimeUnit.MILLISECONDS);
            return;
        } catch (TimeoutException | ExecutionException e) {
            // still running: killed below
        } catch (InterruptedException e) {
            interrupted = true;
        }
        process.kill();
        for (int i = 0; i < REAP_POLLS && isAlive(); i++) {
            try {
                onExit().get(REAP_POLL_MS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // poll again
            } catch (InterruptedException e) {
                interrupted = true; // the flag is cleared by the throw: keep waiting, re-set it at the end
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Once it is gone for good (stopped, not left to the next daemon): its log removed if it ended cleanly (not
     * {@code failed} by its engine's account, and gone with exit code 0), kept as a failed one otherwise
     * ({@link SwtpmRuntimeFiles#ended}).
     */
    void ended(boolean failed) {
        files.ended(logName, pid(), failed || !exitedCleanly());
    }

    /** Gone with exit code 0; a survivor (not our child, its exit code unknown to us) counts as clean once gone. */
    private boolean exitedCleanly() {
        return process.exitStatus().map(s -> s.kind() == ExitStatus.Kind.UNKNOWN
                || (s.kind() == ExitStatus.Kind.EXITED && s.value() == 0)).orElse(false);
    }

    /** The last {@code lines} lines of swtpm's log (which also receives its stdout/stderr). */
    String logTail(int lines) {
        try (RandomAccessFile f = new RandomAccessFile(logFile.toFile(), "r")) {
            long start = Math.max(0, f.length() - TAIL_BYTES);
            byte[] buf = new byte[(int) (f.length() - start)];
            f.seek(start);
            f.readFully(buf);
            List<String> all = Arrays.asList(new String(buf, StandardCharsets.UTF_8).split("\n"));
            List<String> tail = all.subList(Math.max(0, all.size() - lines), all.size());
            return tail.isEmpty() || (tail.size() == 1 && tail.get(0).isBlank()) ? "(log empty)" : String.join(" | ", tail);
        } catch (IOException e) {
            return "(log " + logFile + " unreadable: " + e.getMessage() + ")";
        }
    }
}
