package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.Set;
import org.vtpmback.backend.state.PrivatePaths;

/**
 * The daemon's own directories: created private (0700) on demand, and checked before use. A folder that
 * is a symbolic link, not a directory, owned by another uid or writable by group or others is refused
 * with one line naming its configuration key; state-dir, which holds the sealed state and the master
 * key, must also be closed to group and others for reading (0700).
 */
final class Dirs {
    /** The folders the daemon keeps private, and how strictly. */
    enum Kind {
        STATE("state-dir", PrivatePaths.GROUP_OTHER_ANY, "chmod 700"),
        RUNTIME("runtime-dir", PrivatePaths.GROUP_OTHER_WRITE, "chmod go-w");

        final String key;
        final Set<PosixFilePermission> forbidden;
        final String fix;

        Kind(String key, Set<PosixFilePermission> forbidden, String fix) {
            this.key = key;
            this.forbidden = forbidden;
            this.fix = fix;
        }
    }

    /**
     * The folder exists but is not private: a configuration problem (state-dir, runtime-dir, or the folder's
     * owner or mode) that a restart does not fix, so the daemon exits {@link Main#CONFIG} on it.
     */
    static final class NotPrivate extends IOException {
        private static final long serialVersionUID = 1L;

        NotPrivate(String message) {
            super(message);
        }
    }

    private Dirs() {
    }

    /**
     * Creates {@code dir} (and missing parents) with mode 0700 if nothing is there, then checks it.
     *
     * @throws NotPrivate if it exists but is not private; IOException if it cannot be created or inspected,
     *         each with one line naming the key, the path and the fix
     */
    static void ensurePrivate(Path dir, Kind kind) throws IOException {
        if (!PrivatePaths.exists(dir)) {
            try {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (IOException e) {
                throw new IOException("cannot create " + kind.key + " " + dir + ": " + e, e);
            }
        }
        Optional<String> problem = check(dir, kind);
        if (problem.isPresent()) {
            throw new NotPrivate(problem.get());
        }
    }

    /** What is wrong with {@code dir} as this kind of folder; empty if it is fine or does not exist. */
    static Optional<String> check(Path dir, Kind kind) throws IOException {
        var attributes = PrivatePaths.attributes(dir);
        if (attributes.isEmpty()) {
            return Optional.empty();
        }
        return PrivatePaths.problem(dir, attributes.get(), kind.key + " " + dir, true, kind.forbidden, kind.fix);
    }

    /**
     * Whether the daemon can use {@code dir} as this kind of folder, without changing anything: an existing
     * directory that passes {@link #check}, or a missing one that can be created.
     *
     * @return {@code null} if usable, else what is wrong
     */
    static String problem(Path dir, Kind kind) {
        try {
            Optional<String> p = check(dir, kind);
            if (p.isPresent()) {
                return p.get();
            }
        } catch (IOException e) {
            return "cannot inspect " + kind.key + " " + dir + ": " + e;
        }
        return problem(dir);
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

    /** The file system type of {@code dir}, or of its nearest existing ancestor. */
    static String fileSystemType(Path dir) throws IOException {
        Path p = dir.toAbsolutePath();
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        return Files.getFileStore(p == null ? dir.getRoot() : p).type();
    }

    /** Running vTPMs live unencrypted in runtime-dir: that is only acceptable in RAM. Empty if it is. */
    static Optional<String> notInRam(Path runtimeDir) {
        try {
            String type = fileSystemType(runtimeDir);
            if (type.equals("tmpfs") || type.equals("ramfs")) {
                return Optional.empty();
            }
            return Optional.of("runtime-dir " + runtimeDir + " is on a " + type + " file system, not tmpfs: running vTPMs'"
                    + " working state (unencrypted) will touch a disk; use a folder under /run");
        } catch (IOException e) {
            return Optional.of("cannot tell which file system runtime-dir " + runtimeDir + " is on: " + e.getMessage());
        }
    }
}
