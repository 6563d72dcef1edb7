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

    /** Deletes {@code root} and everything below it; nothing happens if it does not exist. */
    public static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
