package org.vtpmback.backend.engine;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One swtpm process and its log file: spawned by this daemon, or adopted from the daemon before it
 * (a survivor, which is not our child: its exit code is not ours to read, and its exit is noticed by
 * polling). Owned by one engine (or by the launcher until the engine exists). Thread-safe:
 * {@link ProcessHandle} is.
 */
final class SwtpmProcess {
    private static final int TAIL_BYTES = 4096;
    private static final long REAP_POLL_MS = 100;
    private static final int REAP_POLLS = 50;

    private final ProcessHandle process;
    /** The child's {@link Process}, for its exit code; empty for an adopted survivor. */
    private final Optional<Process> child;
    private final Path logFile;
    private final int uid;

    /** {@code uid}: the user swtpm runs as (its own in the jail, else the daemon's). */
    SwtpmProcess(Process process, Path logFile, int uid) {
        this(process.toHandle(), Optional.of(process), logFile, uid);
    }

    /** A swtpm the last daemon started, still running as {@code uid}, writing to {@code logFile}. */
    static SwtpmProcess adopted(ProcessHandle process, Path logFile, int uid) {
        return new SwtpmProcess(process, Optional.empty(), logFile, uid);
    }

    private SwtpmProcess(ProcessHandle process, Optional<Process> child, Path logFile, int uid) {
        this.process = process;
        this.child = child;
        this.logFile = logFile;
        this.uid = uid;
    }

    int uid() {
        return uid;
    }

    long pid() {
        return process.pid();
    }

    // A child is asked through its Process: its handle can see it gone before the JDK has reaped it
    // and knows its exit code.
    boolean isAlive() {
        return child.map(Process::isAlive).orElseGet(process::isAlive);
    }

    CompletableFuture<?> onExit() {
        return child.<CompletableFuture<?>>map(Process::onExit).orElseGet(process::onExit);
    }

    /** "pid N exit code C", "pid N exited" (a survivor) or "pid N running", for log messages. */
    String describe() {
        if (isAlive()) {
            return "pid " + process.pid() + " running";
        }
        return "pid " + process.pid() + child.map(p -> " exit code " + p.exitValue()).orElse(" exited");
    }

    /** SIGKILL, without waiting; any thread. */
    void kill() {
        process.destroyForcibly();
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
        process.destroyForcibly();
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
