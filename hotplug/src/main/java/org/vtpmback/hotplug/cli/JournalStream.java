package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether this process's stderr is the systemd journal. systemd sets {@code JOURNAL_STREAM=<dev>:<ino>} for a
 * service whose stdout or stderr it connected to journald (systemd.exec(5)); the variable is inherited by
 * children whose stderr may be something else (a pipe, a file, a terminal), so, as systemd.exec(5) asks,
 * it counts only if stderr's own device and inode match. Java has no fstat, but the JDK's "unix" file
 * attributes stat {@code /proc/self/fd/2}, which is fstat(2) on that descriptor.
 */
final class JournalStream {
    static final String VARIABLE = "JOURNAL_STREAM";
    private static final Path STDERR = Path.of("/proc/self/fd/2");
    /** Computed once: the descriptor and the variable do not change while the process runs. */
    private static final boolean STDERR_IS_JOURNAL = connected(System.getenv(VARIABLE), STDERR);

    private JournalStream() {
    }

    /** Whether {@code s} is this process's stderr and that is connected to the journal. */
    static boolean isStderr(PrintStream s) {
        return s == System.err && STDERR_IS_JOURNAL;
    }

    /** Whether {@code fd} (a {@code /proc/self/fd/N} link) is the stream {@code variable} names; false if unknown. */
    static boolean connected(String variable, Path fd) {
        if (variable == null || variable.isEmpty()) {
            return false;
        }
        try {
            long dev = ((Number) Files.getAttribute(fd, "unix:dev")).longValue();
            long ino = ((Number) Files.getAttribute(fd, "unix:ino")).longValue();
            return matches(variable, dev, ino);
        } catch (IOException | RuntimeException e) {
            return false; // no /proc, or no "unix" view: the plain format is the safe default
        }
    }

    /** Whether {@code variable} is {@code <dev>:<ino>} in decimal, as systemd writes it, for this device and inode. */
    static boolean matches(String variable, long dev, long ino) {
        return variable.equals(Long.toUnsignedString(dev) + ":" + Long.toUnsignedString(ino));
    }
}
