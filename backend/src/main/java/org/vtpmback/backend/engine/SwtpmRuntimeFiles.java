package org.vtpmback.backend.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The files a swtpm has in the runtime-dir beside its folder: its log {@code <name>.log} (its stdout and
 * stderr, opened by the daemon) and, jailed, the jail's mount table {@code <name>.mounts}. The runtime-dir
 * is a tmpfs in dom0, so whatever stays there is dom0 memory, and an engine's name carries its guest's
 * domain id ({@link EngineBoot}), new at every boot, reboot and restore: a file kept per name would grow
 * with every guest reboot and every vTPM ever run. So each file lives only as long as someone needs it:
 * <ul>
 * <li>the mount table, for the spawn only: the jail's one {@code mount -a} reads it before it execs
 *     swtpm, so it is {@link #spawned removed} once swtpm accepts on a socket, or once the spawn failed;</li>
 * <li>the log of a swtpm that ended cleanly ({@code CMD_SHUTDOWN}, then exit code 0) and says nothing is
 *     removed: at {@code --log level=1} swtpm 0.7.1 writes errors, and one routine line, "Data client
 *     disconnected", when its data connection closes under it (a daemon that left it running); the
 *     daemon's log already has its start and its stop;</li>
 * <li>the log of a swtpm that failed (did not start, died, hung, was killed) or reported an error is kept for
 *     the operator, as {@code logs/<name>-<pid>.log}, its pid the one the daemon's log names; only the newest
 *     {@value #KEPT_LOGS} are kept, so a guest that makes its swtpm fail (or complain) in a loop cannot fill
 *     the tmpfs, and the last ones, those being diagnosed, are there;</li>
 * <li>the log of a swtpm left running for the next daemon stays where it is: that daemon takes the swtpm
 *     over with its log (its stdout is open on that file), or stops it and ends the log as here.</li>
 * </ul>
 * A log's size: jailed, swtpm's writes stop at the jail's file-size limit ({@link SwtpmJail}, 256 KiB by
 * default); a log found bigger than half of it (or than {@value #MAX_LOG_BYTES} bytes unjailed) at a spawn
 * is moved to {@code <name>.log.old} first (a log normally ends with its swtpm: this is for one left behind).
 * Thread-safe: it holds nothing but the folder and the limit; two processes (the daemon and a command) may
 * share it, every removal tolerates a file already gone (two prunes at once may leave one log fewer).
 */
final class SwtpmRuntimeFiles {
    private static final System.Logger LOG = System.getLogger(SwtpmRuntimeFiles.class.getName());
    /** How many swtpm logs are kept: 16 x the jail's 256 KiB is 4 MiB of tmpfs at most. */
    static final int KEPT_LOGS = 16;
    /** An unjailed swtpm's log has no file-size limit: it is moved aside at a spawn beyond this. */
    static final long MAX_LOG_BYTES = 1 << 20;
    /** What swtpm writes at level 1 in a life without errors (when its data connection closes under it). */
    private static final Set<String> ROUTINE = Set.of("Data client disconnected");
    private static final long MAX_ROUTINE_BYTES = 4096;
    /** Where the logs worth reading are kept. */
    static final String KEPT = "logs";
    private static final String OLD = ".old";
    private static final String LOG_SUFFIX = ".log";
    private static final String MOUNTS_SUFFIX = ".mounts";
    /** An engine name ({@link SwtpmLauncher}'s rule) and {@value #LOG_SUFFIX}. */
    private static final Pattern LOG_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}\\.log");

    private final Path runtimeDir;
    private final long rotateAbove;

    /** @param maxFileSize the jailed swtpm's file-size limit, if it has one */
    SwtpmRuntimeFiles(Path runtimeDir, OptionalLong maxFileSize) {
        this.runtimeDir = runtimeDir;
        this.rotateAbove = maxFileSize.isPresent() ? maxFileSize.getAsLong() / 2 : MAX_LOG_BYTES;
    }

    static SwtpmRuntimeFiles of(SwtpmConfig config) {
        return new SwtpmRuntimeFiles(config.runtimeDir(), config.jail().map(j -> OptionalLong.of(j.maxFileSize()))
                .orElse(OptionalLong.empty()));
    }

    Path log(String name) {
        return runtimeDir.resolve(name + LOG_SUFFIX);
    }

    Path mountTable(String name) {
        return runtimeDir.resolve(name + MOUNTS_SUFFIX);
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
        return Optional.of(nameOf(file));
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
     * swtpm {@code name}, pid {@code pid}, is gone for good: its log is removed if it ended cleanly and is empty, else
     * kept (the oldest kept beyond {@value #KEPT_LOGS} removed). Logged, never thrown: teardown goes on.
     */
    void ended(String name, long pid, boolean failed) {
        Path log = log(name);
        delete(old(log));
        if (!failed && saysNothing(log)) {
            delete(log);
            return;
        }
        Path kept = runtimeDir.resolve(KEPT).resolve(name + "-" + pid + LOG_SUFFIX);
        try {
            if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            // the daemon's own, as the runtime-dir is: logs may hold what a guest's commands made swtpm print
            Files.createDirectories(kept.getParent(), PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
            Files.move(log, kept, StandardCopyOption.REPLACE_EXISTING);
            // the time it ended, not its last line's: the newest ends are the ones kept
            Files.setLastModifiedTime(kept, FileTime.fromMillis(System.currentTimeMillis()));
            pruneKept();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "swtpm[{0}] pid {1}: cannot keep its log {2} as {3}: {4}; removing it", name,
                    Long.toString(pid), log, kept, e.getMessage());
            delete(log);
        }
    }

    /**
     * At a daemon's start, once every swtpm the last daemon left is either held for a take-over (its log named in
     * {@code held}) or gone: a mount table left is of a spawn a crash cut short, removed; a log not of a held swtpm is
     * of one that ended while no daemon watched (a crash took it along, or it was killed as a stray), kept as a failed
     * one with pid 0 (unknown): nobody saw how it ended. A command's swtpm running at that very moment (a second
     * process, {@link SwtpmLauncher#forSecondProcess}) would lose its table or see its log moved: both only fail or
     * confuse that command, never a vTPM's state.
     */
    void leftBehind(Set<String> held) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(runtimeDir)) {
            all.forEach(files::add);
        } catch (NoSuchFileException e) {
            return; // nothing was ever spawned here
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot list {0} for the files swtpm processes left: {1}", runtimeDir, e.getMessage());
            return;
        }
        for (Path p : files) {
            String file = p.getFileName().toString();
            if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                continue; // the vTPM folders, logs/, the daemon's sockets
            }
            if (file.endsWith(MOUNTS_SUFFIX)) {
                delete(p);
            } else if (LOG_NAME.matcher(file).matches() && !held.contains(nameOf(file))) {
                ended(nameOf(file), 0, true);
            }
        }
    }

    private static String nameOf(String logFile) {
        return logFile.substring(0, logFile.length() - LOG_SUFFIX.length());
    }

    /** Removes the kept logs beyond the newest {@value #KEPT_LOGS}. */
    private void pruneKept() throws IOException {
        List<Path> logs = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(runtimeDir.resolve(KEPT), "*.log")) {
            all.forEach(logs::add);
        }
        if (logs.size() <= KEPT_LOGS) {
            return;
        }
        logs.sort(Comparator.comparing(SwtpmRuntimeFiles::modified).reversed());
        logs.subList(KEPT_LOGS, logs.size()).forEach(SwtpmRuntimeFiles::delete);
    }

    /** Nothing but swtpm's {@link #ROUTINE} lines: read only if small (a long log said something). */
    private static boolean saysNothing(Path log) {
        try {
            if (Files.size(log) > MAX_ROUTINE_BYTES) {
                return false;
            }
            // ISO-8859-1: bytes as they are, never a decoding error
            try (Stream<String> lines = Files.lines(log, StandardCharsets.ISO_8859_1)) {
                return lines.allMatch(l -> l.isBlank() || ROUTINE.contains(l.strip()));
            }
        } catch (IOException | UncheckedIOException e) {
            return true; // gone: nothing to keep
        }
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
