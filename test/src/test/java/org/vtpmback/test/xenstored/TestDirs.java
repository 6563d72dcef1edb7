package org.vtpmback.test.xenstored;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Folders that extensions create for a test or a test class. They are cleaned up the way
 * {@code @TempDir(cleanup = ON_SUCCESS)} cleans up: deleted when what used them passed, kept and
 * named on stdout when it failed, because the daemon logs and state in them explain the failure.
 */
public final class TestDirs {
    private TestDirs() {
    }

    /**
     * Deletes {@code dir} unless {@code context} failed or {@code keepRequested}; a kept folder is
     * printed as "kept {@code what} {@code dir}".
     */
    public static void deleteUnlessFailed(ExtensionContext context, Path dir, String what, boolean keepRequested)
            throws IOException {
        boolean failed = context.getExecutionException().isPresent();
        if (!keepRequested && !failed) {
            deleteTree(dir);
        } else {
            System.out.println("kept " + what + " " + dir);
        }
    }

    /** Attempts of {@link #deleteTree} while something still writes below the folder, and the pause between them. */
    private static final int DELETE_ATTEMPTS = 10;
    private static final long DELETE_PAUSE_MS = 200;

    /**
     * Deletes {@code root} and everything below it; nothing happens if it does not exist. A folder that gained an entry
     * while the walk ran (a process or thread of the test still ending: seen once in CI, a simulated host's
     * {@code run/} after its daemon's stop) is printed with what it holds and the walk tried again, a few times.
     */
    public static void deleteTree(Path root) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                walkAndDelete(root);
                return;
            } catch (java.nio.file.DirectoryNotEmptyException e) {
                Path dir = Path.of(e.getFile());
                String entries;
                try (java.util.stream.Stream<Path> s = Files.list(dir)) {
                    entries = s.map(p -> p.getFileName().toString()).sorted().collect(java.util.stream.Collectors.joining(", "));
                } catch (IOException gone) {
                    entries = "(gone meanwhile)";
                }
                System.out.println("TestDirs: " + dir + " gained entries while it was deleted (attempt " + attempt + " of "
                        + DELETE_ATTEMPTS + "): " + entries);
                if (attempt == DELETE_ATTEMPTS) {
                    throw e;
                }
                try {
                    Thread.sleep(DELETE_PAUSE_MS);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private static void walkAndDelete(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file); // moved or removed meanwhile by what is still ending: gone either way
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof java.nio.file.NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw exc;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.deleteIfExists(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
