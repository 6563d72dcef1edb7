package org.vtpmback.backend.engine;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One spawned swtpm process and its log file. Owned by one engine (or by the launcher until the
 * engine exists). Thread-safe: {@link Process} is.
 */
final class SwtpmProcess {
    private static final int TAIL_BYTES = 4096;

    private final Process process;
    private final Path logFile;
    private final int uid;

    /** {@code uid}: the user swtpm runs as (its own in the jail, else the daemon's). */
    SwtpmProcess(Process process, Path logFile, int uid) {
        this.process = process;
        this.logFile = logFile;
        this.uid = uid;
    }

    int uid() {
        return uid;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    CompletableFuture<Process> onExit() {
        return process.onExit();
    }

    /** "pid N exit code C" or "pid N running", for log messages. */
    String describe() {
        return "pid " + process.pid() + (process.isAlive() ? " running" : " exit code " + process.exitValue());
    }

    /**
     * Waits up to {@code grace} for the process to exit by itself, then kills it (SIGKILL: a hung
     * swtpm ignores nothing else reliably) and waits for it to be reaped, so its state-dir lock is
     * released when this returns.
     */
    /** SIGKILL, without waiting; any thread. */
    void kill() {
        process.destroyForcibly();
    }

    void stop(Duration grace) {
        boolean interrupted = false;
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            interrupted = true;
            process.destroyForcibly();
        }
        for (int i = 0; i < 50 && process.isAlive(); i++) {
            try {
                process.waitFor(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
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
