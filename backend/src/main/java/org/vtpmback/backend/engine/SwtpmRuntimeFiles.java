package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The files a swtpm has in the runtime-dir beside its folder: its log {@code <name>.log} (its stdout and
 * stderr, opened by the daemon) and, jailed, the jail's mount table {@code <name>.mounts}. The runtime-dir
 * is a tmpfs in dom0, so whatever stays there is dom0 memory, and an engine's name carries its guest's
 * domain id ({@link EngineBoot}), new at every boot, reboot and restore: a file kept per name would grow
 * with every guest reboot and every vTPM ever run. So each file lives only as long as someone needs it:
 * <ul>
 * <li>the mount table, for the spawn only: the jail's one {@code mount -a} reads it before it execs
 *     swtpm, so it is {@link #spawned removed} once swtpm accepts on a socket, or once the spawn failed;</li>
 * <li>the log of a swtpm that ended cleanly ({@code CMD_SHUTDOWN}, then its own exit) is removed: the
 *     daemon's log already has its start, its stop and any failure's last lines;</li>
 * <li>the log of a swtpm that failed (did not start, died, hung, was killed) is kept for the operator, as
 *     {@code failed/<name>-<pid>.log}, its pid the one the daemon's log names; only the newest
 *     {@value #KEPT_FAILED} are kept, so a guest that makes its swtpm fail in a loop cannot fill the tmpfs,
 *     and the last failures, the ones being diagnosed, are there;</li>
 * <li>the log of a swtpm left running for the next daemon stays where it is: that daemon takes the swtpm
 *     over with its log (its stdout is open on that file), or stops it and ends the log as here.</li>
 * </ul>
 * A log's size: jailed, swtpm's writes stop at the jail's file-size limit ({@link SwtpmJail}, 256 KiB by
 * default); a log found bigger than half of it (or than {@value #MAX_LOG_BYTES} bytes unjailed) at a spawn
 * is moved to {@code <name>.log.old} first (only a log left by a crash or a take-over carries over to a spawn).
 * Thread-safe: it holds nothing but the folder and the limit; two processes (the daemon and a command) may
 * share it, every removal tolerates a file already gone.
 */
final class SwtpmRuntimeFiles {
    private static final System.Logger LOG = System.getLogger(SwtpmRuntimeFiles.class.getName());
    /** How many failed swtpm logs are kept: 16 x the jail's 256 KiB is 4 MiB of tmpfs at most. */
    static final int KEPT_FAILED = 16;
    /** An unjailed swtpm's log has no file-size limit: it is moved aside at a spawn beyond this. */
    static final long MAX_LOG_BYTES = 1 << 20;
    static final String FAILED = "failed";
    private static final String OLD = ".old";
    private static final String LOG_SUFFIX = ".log";
    /** An engine name ({@link SwtpmLauncher}'s rule) and {@value #LOG_SUFFIX}. */
    private static final Pattern LOG_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}\\.log");

    private final Path runtimeDir;
    private final long rotateAbove;

    /** @param maxFileSize the jailed swtpm's file-size limit, if it has one */
    SwtpmRuntimeFiles(Path runtimeDir, java.util.OptionalLong maxFileSize) {
        this.runtimeDir = runtimeDir;
        this.rotateAbove = maxFileSize.isPresent() ? maxFileSize.getAsLong() / 2 : MAX_LOG_BYTES;
    }

    static SwtpmRuntimeFiles of(SwtpmConfig config) {
        return new SwtpmRuntimeFiles(config.runtimeDir(), config.jail().map(j -> java.util.OptionalLong.of(j.maxFileSize()))
                .orElse(java.util.OptionalLong.empty()));
    }

    Path log(String name) {
        return runtimeDir.resolve(name + LOG_SUFFIX);
    }

    Path mountTable(String name) {
        return runtimeDir.resolve(name + ".mounts");
    }

    /**
     * The name of the log a running swtpm {@code pid} writes (its stdout, {@code /proc/<pid>/fd/1}, opened by the daemon
     * that spawned it), if that is a log in this runtime-dir: how a new daemon finds the log of a swtpm the last one
     * left, whose engine name (with its domain id) it does not know. Whatever else its stdout is, nothing.
     */
    Optional<String> logNameOf(long pid) {
        Path target;
        Path here;
        try {
            target = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", "1"));
            here = runtimeDir.toRealPath(); // the kernel shows the path it opened, symlinks resolved
        } catch (IOException e) {
            return Optional.empty(); // gone, or no runtime-dir: no log of ours
        }
        String file = target.getFileName() == null ? "" : target.getFileName().toString();
        if (!here.equals(target.getParent()) || !LOG_NAME.matcher(file).matches()) {
            return Optional.empty();
        }
        return Optional.of(file.substring(0, file.length() - LOG_SUFFIX.length()));
    }

    /** Before a spawn: a log left bigger than half the limit is moved to {@code .old} (one old copy), so swtpm has room. */
    void beforeSpawn(String name) throws IOException {
        Path log = log(name);
        if (Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS) && Files.size(log) > rotateAbove) {
            Files.move(log, old(log), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * swtpm {@code name} accepts on a socket, or its spawn failed: the jail's mount table has been read, or never
     * will be. A failure to remove it is logged, not thrown (the engine is fine; the file is only memory).
     */
    void spawned(String name) {
        delete(mountTable(name));
    }

    /**
     * swtpm {@code name}, pid {@code pid}, is gone for good: its log is removed if it ended cleanly, else kept as a
     * failed one (the oldest kept beyond {@value #KEPT_FAILED} removed). Logged, never thrown: teardown goes on.
     */
    void ended(String name, long pid, boolean failed) {
        Path log = log(name);
        delete(old(log));
        if (!failed) {
            delete(log);
            return;
        }
        Path kept = runtimeDir.resolve(FAILED).resolve(name + "-" + pid + LOG_SUFFIX);
        try {
            if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            Files.createDirectories(kept.getParent());
            Files.move(log, kept, StandardCopyOption.REPLACE_EXISTING);
            // the time it failed, not its last line's: the newest failures are the ones kept
            Files.setLastModifiedTime(kept, FileTime.fromMillis(System.currentTimeMillis()));
            pruneFailed();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "swtpm[{0}] pid {1}: cannot keep its log {2} as {3}: {4}; removing it", name,
                    Long.toString(pid), log, kept, e.getMessage());
            delete(log);
        }
    }

    /** Removes the failed logs beyond the newest {@value #KEPT_FAILED}. */
    private void pruneFailed() throws IOException {
        List<Path> logs = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(runtimeDir.resolve(FAILED), "*.log")) {
            all.forEach(logs::add);
        }
        if (logs.size() <= KEPT_FAILED) {
            return;
        }
        logs.sort(Comparator.comparing(SwtpmRuntimeFiles::modified).reversed());
        logs.subList(KEPT_FAILED, logs.size()).forEach(SwtpmRuntimeFiles::delete);
    }

    private static FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return FileTime.fromMillis(0); // gone meanwhile (another process pruned it): oldest, removed if still there
        }
    }

    private static Path old(Path log) {
        return log.resolveSibling(log.getFileName() + OLD);
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot remove {0}: {1}", p, e.getMessage());
        }
    }
}
