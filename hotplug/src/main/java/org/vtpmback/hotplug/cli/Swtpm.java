package org.vtpmback.hotplug.cli;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntSupplier;

/** Finds out whether the configured swtpm runs, before any guest depends on it. */
final class Swtpm {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private Swtpm() {
    }

    /** Thrown when {@code swtpm --version} does not run or fails; the message names the binary. */
    static final class Unusable extends Exception {
        private static final long serialVersionUID = 1L;

        Unusable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Runs {@code <binary> --version}.
     *
     * @return the first line it printed, prefixed with where the binary is ({@code /usr/bin/swtpm: TPM emulator version ...})
     * @throws Unusable naming the binary if it cannot be run, fails or hangs
     */
    static String version(String binary) throws Unusable {
        String shown = where(binary).map(p -> p.equals(binary) ? p : binary + " (" + p + ")").orElse(binary);
        Process p;
        try {
            p = new ProcessBuilder(List.of(binary, "--version")).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new Unusable("swtpm '" + binary + "' cannot be run (" + reason(e)
                    + "); install swtpm (Debian: apt-get install swtpm swtpm-tools) or set 'swtpm' in the configuration", e);
        }
        try (InputStream in = p.getInputStream()) {
            p.getOutputStream().close();
            CompletableFuture<byte[]> output = CompletableFuture.supplyAsync(() -> {
                try {
                    return in.readNBytes(64 * 1024);
                } catch (IOException e) {
                    return new byte[0];
                }
            });
            if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new Unusable("swtpm '" + shown + "' --version did not finish within " + TIMEOUT.toSeconds() + " s", null);
            }
            String text = new String(output.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS), StandardCharsets.UTF_8).strip();
            String first = text.lines().findFirst().orElse("");
            if (p.exitValue() != 0) {
                throw new Unusable("swtpm '" + shown + "' --version failed with exit code " + p.exitValue()
                        + (first.isEmpty() ? "" : ": " + first), null);
            }
            return shown + ": " + (first.isEmpty() ? "(no version output)" : first);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new Unusable("interrupted while running swtpm '" + shown + "' --version", e);
        } catch (IOException | ExecutionException | TimeoutException e) {
            p.destroyForcibly();
            throw new Unusable("swtpm '" + shown + "' --version: cannot read its output: " + e, e);
        }
    }

    /**
     * {@code swtpm --version} on a thread of its own from its {@link #start} on: a process, and swtpm's dynamic linking
     * of libtpms and OpenSSL, some 50-100 ms that the daemon's start spends readying its folders, its lock and its
     * line to the service manager meanwhile. Its failure is still the first one reported ({@link #failFirst}).
     */
    static final class Check {
        private final FutureTask<String> task;

        private Check(String binary) {
            this.task = new FutureTask<>(() -> version(binary));
        }

        static Check start(String binary) {
            Check check = new Check(binary);
            Thread t = new Thread(check.task, "swtpm-version");
            t.setDaemon(true);
            t.start();
            return check;
        }

        /** What {@link Swtpm#version} returns, or throws; waits for it (at most its {@link #TIMEOUT}). */
        String result() throws Unusable {
            try {
                return task.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Unusable u) {
                    throw u;
                }
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Unusable("interrupted while waiting for swtpm --version", e);
            }
        }

        /**
         * For a start that fails before it uses swtpm: the exit status of {@code failure}, unless swtpm does not run,
         * which is reported instead, as when the check came first.
         */
        int failFirst(Invocation inv, IntSupplier failure) {
            try {
                result();
            } catch (Unusable e) {
                return Main.fail(inv, e.getMessage());
            }
            return failure.getAsInt();
        }
    }

    /** {@code binary} itself if it has a slash, else the first executable of that name in PATH. */
    private static Optional<String> where(String binary) {
        if (binary.contains("/")) {
            return Optional.of(binary);
        }
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, binary);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate.toString());
            }
        }
        return Optional.empty();
    }

    /** "No such file or directory" out of "Cannot run program "x": error=2, No such file or directory". */
    private static String reason(IOException e) {
        String m = String.valueOf(e.getMessage());
        int i = m.indexOf("error=");
        if (i >= 0) {
            int comma = m.indexOf(", ", i);
            if (comma >= 0) {
                return m.substring(comma + 2);
            }
        }
        return m;
    }
}
