package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** The daemon's own directories: private (0700), created on demand. */
final class Dirs {
    private Dirs() {
    }

    /** Creates {@code dir} (and missing parents) with mode 0700 if it does not exist. */
    static void createPrivate(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
    }

    /**
     * Whether the daemon can use {@code dir}, without changing anything: an existing writable
     * directory, or a missing one whose nearest existing ancestor is a writable directory.
     *
     * @return {@code null} if usable, else what is wrong
     */
    static String problem(Path dir) {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                return dir + " exists but is not a directory";
            }
            return Files.isWritable(dir) ? null : dir + " is not writable";
        }
        Path parent = dir.toAbsolutePath().getParent();
        while (parent != null && !Files.exists(parent)) {
            parent = parent.getParent();
        }
        if (parent == null || !Files.isDirectory(parent) || !Files.isWritable(parent)) {
            return dir + " does not exist and cannot be created (" + parent + " is not a writable directory)";
        }
        return null;
    }
}
