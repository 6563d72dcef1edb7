package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * {@code vtpmback cds-archive}: makes the class-data sharing archive the launcher starts the JVM from
 * ({@link ClassDataSharing}), with this JVM, this class path and this JVM's heap and GC options, from the class list
 * of a daemon start that the build recorded. The archive is valid only for exactly those: the package makes it
 * anew after every install or upgrade of itself or of a Java runtime (a dpkg trigger on /usr/lib/jvm). Written
 * aside and renamed into place, so a daemon starting meanwhile maps the old archive or the new one, never half of
 * one; then checked with {@code -Xshare:on}, which fails unless the JVM maps it.
 */
final class CdsArchiveCommand {
    /** A dump takes 5-15 s on an idle 2-core host; minutes under emulation. */
    static final Duration TIMEOUT = Duration.ofMinutes(10);
    /**
     * The JVM options the archive depends on, passed on from the launcher's JVM to the dump (the JDK's CDS guide:
     * the GC, compressed pointers and object alignment must match; the heap size decides compressed pointers).
     */
    private static final Pattern ARCHIVE_OPTIONS = Pattern.compile("-Xm[xs].+|-XX:(MaxHeapSize|InitialHeapSize|ObjectAlignmentInBytes)=.+"
            + "|-XX:[+-]Use[A-Za-z]*GC|-XX:[+-]UseCompressed(Oops|ClassPointers)");

    private CdsArchiveCommand() {
    }

    static int run(VtpmbackCommand root) {
        Invocation inv = new Invocation("cds-archive", Optional.empty(), List.of(), List.of(), Map.of(), root.out(), root.err(),
                root.lifecycle());
        if (ClassDataSharing.archive().isEmpty()) {
            return Main.fail(inv, "no archive named: run it through the launcher (/usr/sbin/vtpmback or bin/vtpmback), which"
                    + " knows the class path and archive the daemon uses, without VTPMBACK_CDS_ARCHIVE= (empty)");
        }
        Path archive = ClassDataSharing.archive().get();
        Path classList = ClassDataSharing.classList().orElse(Path.of(""));
        if (!Files.isRegularFile(classList)) {
            return Main.fail(inv, "no class list at " + classList + ": this vtpmback was built without one, so no archive"
                    + " can be made (the daemon starts without one, only slower)");
        }
        long t0 = System.nanoTime();
        Path temp = archive.resolveSibling(archive.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(archive.getParent(),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
            List<String> options = archiveOptions(ManagementFactory.getRuntimeMXBean().getInputArguments());
            String classPath = System.getProperty("java.class.path");
            List<String> dump = new ArrayList<>(List.of(java(), "-Xshare:dump", "-XX:SharedClassListFile=" + classList,
                    ClassDataSharing.SHARED_ARCHIVE_OPTION + temp));
            dump.addAll(options);
            dump.addAll(List.of("-cp", classPath));
            String out = runJava(dump, "-Xshare:dump");
            // The proof: a JVM with the daemon's options and class path that refuses to start unless it maps the archive.
            List<String> check = new ArrayList<>(List.of(java(), ClassDataSharing.SHARED_ARCHIVE_OPTION + temp, "-Xshare:on"));
            check.addAll(options);
            check.addAll(List.of("-cp", classPath, "-version"));
            runJava(check, "-Xshare:on with the new archive");
            Files.move(temp, archive, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            long skipped = out.lines().filter(l -> l.contains("Skipping") || l.contains("Preload Warning")).count();
            inv.out().println(String.format(Locale.ROOT, "wrote %s (%.1f MB) in %.1f s for %s %s, class path of %d jar(s)%s%s",
                    archive, Files.size(archive) / 1e6, (System.nanoTime() - t0) / 1e9, System.getProperty("java.vm.name"),
                    System.getProperty("java.vm.version"), classPath.split(":").length,
                    options.isEmpty() ? "" : ", " + String.join(" ", options),
                    skipped == 0 ? "" : "; " + skipped + " listed classes not archived (signed jars, classes of other versions)"));
            return Main.OK;
        } catch (IOException e) {
            return Main.fail(inv, "cannot make the class-data sharing archive " + archive + ": " + IoErrors.reason(e));
        } catch (Failed e) {
            return Main.fail(inv, "cannot make the class-data sharing archive " + archive + ": " + e.getMessage());
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException e) {
                inv.err().println("vtpmback cds-archive: cannot remove " + temp + ": " + IoErrors.reason(e));
            }
        }
    }

    /** Of {@code inputArguments}, those an archive depends on, in order. */
    static List<String> archiveOptions(List<String> inputArguments) {
        return inputArguments.stream().filter(a -> ARCHIVE_OPTIONS.matcher(a).matches()).toList();
    }

    /** This JVM's launcher: the archive is valid only for this exact build. */
    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** A JVM run that failed, timed out or could not start; the message has its last output lines. */
    private static final class Failed extends Exception {
        private static final long serialVersionUID = 1L;

        Failed(String message) {
            super(message);
        }
    }

    /** Runs {@code cmd} to its end; its output (stdout and stderr) if it exits 0. */
    private static String runJava(List<String> cmd, String what) throws IOException, Failed {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try (InputStream in = p.getInputStream()) {
            p.getOutputStream().close();
            CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    return "(output not read: " + e.getMessage() + ")";
                }
            });
            if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new Failed(what + " did not finish within " + TIMEOUT.toMinutes() + " minutes");
            }
            String out = output.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (p.exitValue() != 0) {
                throw new Failed(what + " exited with " + p.exitValue() + ": " + tail(out));
            }
            return out;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new Failed(what + ": interrupted");
        } catch (ExecutionException | TimeoutException e) {
            p.destroyForcibly();
            throw new Failed(what + ": cannot read its output: " + e);
        }
    }

    /** The last lines of a JVM's output, on one line. */
    private static String tail(String out) {
        List<String> lines = out.strip().lines().toList();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
    }
}
