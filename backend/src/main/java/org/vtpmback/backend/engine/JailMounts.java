package org.vtpmback.backend.engine;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The mounts of one swtpm's jail, as a mount table (fstab format) that one {@code mount -a} makes in
 * order: an empty tmpfs on every covered path, read-only from the start, but on the one above the
 * vTPM's folder, which stays writable until the folder is bound back under it (X-mount.mkdir makes the
 * mount point there), and then is made read-only ({@link #remountReadOnly}: a remount is a second
 * {@code mount}; the one in a table would take its options from the line, not from the mount).
 * <p>
 * {@code mount -a} skips, silently and with status 0, a line whose source is already mounted on its
 * target. So every table names its tmpfs mounts after a random source, {@code vtpmback-jail-<64 bits>}:
 * nothing in the namespace the jail copies can already be mounted under that name, and every line is
 * mounted. Immutable.
 *
 * @param table           the table, one line a mount, paths escaped as fstab wants them
 * @param folder          the vTPM's folder, a real path, bound back from the jail script's fd 3
 * @param remountReadOnly the tmpfs above the folder, to make read-only once the folder is bound; empty
 *                        if no covered path holds the folder
 */
record JailMounts(String table, Path folder, Optional<Path> remountReadOnly) {
    private static final SecureRandom RANDOM = new SecureRandom();
    /** tmpfs options: nothing on these empty folders may run, be a device or grant privileges. */
    private static final String TMPFS = "size=64k,mode=0755,nosuid,nodev,noexec";
    /** The folder as the jail script holds it open: mount reads the descriptor, not the covered path. */
    static final String FOLDER_FD = "/proc/self/fd/3";

    /**
     * The table that covers each of {@code covered} (real paths, none inside another) and binds
     * {@code folder} (a real path) back at its own path.
     */
    static JailMounts of(List<Path> covered, Path folder) {
        byte[] nonce = new byte[8];
        RANDOM.nextBytes(nonce);
        String source = "vtpmback-jail-" + HexFormat.of().formatHex(nonce);
        StringBuilder table = new StringBuilder();
        Optional<Path> above = Optional.empty();
        for (Path p : covered) {
            // a strict ancestor needs the mount point made in it; a tmpfs on the folder itself does not
            boolean holdsFolder = folder.startsWith(p) && !folder.equals(p);
            if (holdsFolder) {
                above = Optional.of(p);
            }
            line(table, source, p, "tmpfs", (holdsFolder ? "" : "ro,") + TMPFS);
        }
        line(table, FOLDER_FD, folder, "none", "bind,nosuid,nodev,noexec,X-mount.mkdir");
        return new JailMounts(table.toString(), folder, above);
    }

    private static void line(StringBuilder table, String source, Path target, String type, String options) {
        table.append(source).append(' ').append(escape(target.toString())).append(' ').append(type).append(' ')
                .append(options).append(" 0 0\n");
    }

    /** fstab's own escapes (libmount unmangles them): a space, tab, newline or backslash as \ooo. */
    static String escape(String path) {
        StringBuilder b = new StringBuilder();
        for (char c : path.toCharArray()) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
                b.append(String.format("\\%03o", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
