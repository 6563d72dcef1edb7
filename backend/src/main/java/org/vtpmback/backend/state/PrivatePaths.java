package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * Checks of the files and folders that hold secrets: they must be what they claim to be, not symbolic
 * links (checked with {@link LinkOption#NOFOLLOW_LINKS}), owned by this process's uid and closed to
 * group and others. Each problem is one line naming the path and what to do.
 */
public final class PrivatePaths {
    /** Any access by group or others. */
    public static final Set<PosixFilePermission> GROUP_OTHER_ANY = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    /** Write access by group or others. */
    public static final Set<PosixFilePermission> GROUP_OTHER_WRITE = EnumSet.of(
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

    private static volatile int uid = -1;

    private PrivatePaths() {
    }

    /** The effective uid of this process ({@code /proc/self/status}, Linux). */
    public static int processUid() {
        int u = uid;
        if (u < 0) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (line.startsWith("Uid:")) {
                        u = Integer.parseInt(line.substring(4).trim().split("\\s+")[1]);
                        break;
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw new IllegalStateException("cannot read this process's uid from /proc/self/status: " + e, e);
            }
            if (u < 0) {
                throw new IllegalStateException("no Uid: line in /proc/self/status");
            }
            uid = u;
        }
        return u;
    }

    /** The attributes of {@code path} itself (a symbolic link is not followed), or empty if it does not exist. */
    public static Optional<PosixFileAttributes> attributes(Path path) throws IOException {
        try {
            return Optional.of(Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /** Whether anything, even a dangling symbolic link, is at {@code path}. */
    public static boolean exists(Path path) {
        return Files.exists(path, LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * What is wrong with the existing {@code path} as a private file or folder, or empty if nothing.
     *
     * @param what      how the message names it, e.g. {@code "state-dir /var/lib/vtpmback"}
     * @param directory whether it must be a folder (else a regular file)
     * @param forbidden permission bits it must not have
     * @param fix       the chmod that fixes a bad mode, e.g. {@code "chmod 700"}
     */
    public static Optional<String> problem(Path path, PosixFileAttributes a, String what, boolean directory,
                                           Set<PosixFilePermission> forbidden, String fix) throws IOException {
        if (a.isSymbolicLink()) {
            String target;
            try {
                target = " (-> " + Files.readSymbolicLink(path) + ")";
            } catch (IOException e) {
                target = "";
            }
            return Optional.of(what + " is a symbolic link" + target + "; refusing to follow it: configure the real "
                    + (directory ? "folder" : "file") + " itself");
        }
        if (directory ? !a.isDirectory() : !a.isRegularFile()) {
            return Optional.of(what + " is not a " + (directory ? "directory" : "regular file") + "; put the real "
                    + (directory ? "folder" : "file") + " there (or configure its path)");
        }
        int owner = uidOf(path);
        if (owner != processUid()) {
            return Optional.of(what + " is owned by uid " + owner + ", not by this process's uid " + processUid()
                    + ": chown it to the daemon's user, after checking who else could have changed it");
        }
        Set<PosixFilePermission> bad = EnumSet.noneOf(PosixFilePermission.class);
        bad.addAll(a.permissions());
        bad.retainAll(forbidden);
        if (!bad.isEmpty()) {
            return Optional.of(what + " has mode " + octal(a.permissions()) + ", open to group or others; " + fix + " " + path);
        }
        return Optional.empty();
    }

    /** The owner's uid of {@code path} itself. */
    static int uidOf(Path path) throws IOException {
        return (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    /** {@code 0640}-style spelling of a permission set. */
    public static String octal(Set<PosixFilePermission> perms) {
        int mode = 0;
        for (PosixFilePermission p : perms) {
            mode |= 1 << (8 - p.ordinal());
        }
        return String.format("%04o", mode);
    }
}
