package org.vtpmback.hotplug.toolstack;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs the real {@code xl} (looked up in PATH unless a path is given). {@code xl restore} without
 * {@code -e} forks a child that stays behind to watch the domain; that child redirects its output to
 * xl's log file, so only the parent's output is read here, and a child that kept the pipes open would
 * not block us for more than a few seconds.
 */
public final class ProcessXl implements Xl {
    private static final long PIPE_GRACE_SECONDS = 5;
    private final String executable;

    public ProcessXl(String executable) {
        this.executable = executable;
    }

    @Override
    public Result run(List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(executable);
        cmd.addAll(args);
        String line = String.join(" ", cmd);
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.INHERIT).start();
        } catch (IOException e) {
            throw new IOException("cannot run '" + line + "': " + e.getMessage(), e);
        }
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        int rc = p.waitFor();
        return new Result(line, rc, collect(out), collect(err));
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            try (in) {
                in.transferTo(buf);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return buf.toString(StandardCharsets.UTF_8);
        });
    }

    private static String collect(CompletableFuture<String> f) throws InterruptedException {
        try {
            return f.get(PIPE_GRACE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            return "";
        }
    }

    @Override
    public String toString() {
        return executable;
    }
}
