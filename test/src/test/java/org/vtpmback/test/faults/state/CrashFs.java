package org.vtpmback.test.faults.state;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * The power-cut model of {@code test/crashfs/crashfs.c} seen from the harness: the shim, built with
 * gcc at test time, records what fsync made durable in a shadow folder while a process runs with it
 * preloaded; {@link #powerCut()} then replaces the watched folder with only that, as a machine that
 * lost its power finds its disk. Files get their content as of their last fsync (never fsynced:
 * empty), names exist only where an fsync of their folder recorded them.
 */
final class CrashFs {
    private static final Set<PosixFilePermission> PRIVATE = java.nio.file.attribute.PosixFilePermissions.fromString("rwx------");
    private final Path root;
    private final Path shadow;
    private final Path library;

    /**
     * The model for {@code root} (created if missing; everything in it counts as durable at the
     * start), its shadow in {@code shadow}, the shim built into {@code buildDir}.
     */
    CrashFs(Path root, Path shadow, Path buildDir) throws IOException {
        Files.createDirectories(root);
        Files.setPosixFilePermissions(root, PRIVATE); // the daemon refuses a state-dir open to others
        this.root = root.toRealPath();
        this.shadow = shadow;
        this.library = compile(buildDir);
        seed();
    }

    /** The environment a process needs to run under the model. */
    Map<String, String> environment() {
        return Map.of("LD_PRELOAD", library.toString(), "CRASHFS_ROOT", root.toString(), "CRASHFS_SHADOW", shadow.toString());
    }

    Path root() {
        return root;
    }

    /** The durability events (fsync, fdatasync, rename, unlink, mkdir under the root) seen so far, one per line. */
    List<String> events() throws IOException {
        Path f = shadow.resolve("events");
        return Files.exists(f) ? Files.readAllLines(f) : List.of();
    }

    /** The running process SIGKILLs itself at its {@code n}-th durability event, before or right after it. */
    void killAt(long n, boolean after) throws IOException {
        Path tmp = shadow.resolve("kill-at.tmp");
        Files.writeString(tmp, n + (after ? " after" : " before"));
        Files.move(tmp, shadow.resolve("kill-at"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    void disarm() throws IOException {
        Files.deleteIfExists(shadow.resolve("kill-at"));
    }

    /** Before a process starts under the model: its events are numbered from 1, no kill is armed. */
    void newProcess() throws IOException {
        disarm();
        Files.deleteIfExists(shadow.resolve("events"));
    }

    /**
     * The power cut, once the process under the model is dead: the root now holds only what was
     * durable, and counts as durable in full from here on (the machine booted again).
     */
    void powerCut() throws IOException {
        Path survivor = root.resolveSibling(root.getFileName() + ".survivor");
        deleteTree(survivor);
        rebuild(survivor, inode(root), new HashSet<>());
        Files.setPosixFilePermissions(survivor, Files.getPosixFilePermissions(root));
        deleteTree(root);
        Files.move(survivor, root);
        seed();
    }

    private void rebuild(Path dir, long ino, Set<Long> seen) throws IOException {
        Files.createDirectory(dir);
        if (!seen.add(ino)) {
            return;
        }
        Path listing = shadow.resolve("dirs/" + ino);
        if (Files.exists(listing)) {
            for (String line : Files.readAllLines(listing, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ", 4);
                Path child = dir.resolve(f[3]);
                long childIno = Long.parseLong(f[0]);
                if (f[1].equals("d")) {
                    rebuild(child, childIno, seen);
                } else {
                    Path content = shadow.resolve("files/" + childIno);
                    Files.write(child, Files.exists(content) ? Files.readAllBytes(content) : new byte[0]);
                }
                Files.setPosixFilePermissions(child, permissions(Integer.parseInt(f[2], 8)));
            }
        }
    }

    /** Empties the shadow, then records the whole tree under the root as durable. */
    private void seed() throws IOException {
        deleteTree(shadow);
        Files.createDirectories(shadow.resolve("files"));
        Files.createDirectories(shadow.resolve("dirs"));
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                if (Files.isDirectory(p)) {
                    StringBuilder listing = new StringBuilder();
                    try (Stream<Path> children = Files.list(p)) {
                        for (Path c : (Iterable<Path>) children::iterator) {
                            int mode = (Integer) Files.getAttribute(c, "unix:mode") & 07777;
                            listing.append(inode(c)).append(Files.isDirectory(c) ? " d " : " f ").append(Integer.toOctalString(mode))
                                    .append(' ').append(c.getFileName()).append('\n');
                        }
                    }
                    Files.writeString(shadow.resolve("dirs/" + inode(p)), listing);
                } else if (Files.isRegularFile(p)) {
                    Files.copy(p, shadow.resolve("files/" + inode(p)));
                }
            }
        }
    }

    static long inode(Path p) throws IOException {
        return ((Number) Files.getAttribute(p, "unix:ino", java.nio.file.LinkOption.NOFOLLOW_LINKS)).longValue();
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> out = new HashSet<>();
        PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ (0400) ... OTHERS_EXECUTE (01)
        for (int i = 0; i < bits.length; i++) {
            if ((mode & (0400 >> i)) != 0) {
                out.add(bits[i]);
            }
        }
        return out;
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> all = Files.walk(p)) {
            for (Path q : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    private static Path compile(Path dir) throws IOException {
        Path src = XenstoredDaemon.repoRoot().resolve("test/crashfs/crashfs.c");
        Files.createDirectories(dir);
        Path so = dir.resolve("crashfs.so");
        if (Files.exists(so) && Files.getLastModifiedTime(so).compareTo(Files.getLastModifiedTime(src)) >= 0) {
            return so;
        }
        Path log = dir.resolve("gcc.out");
        Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", so.toString(), src.toString(), "-ldl")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            if (!gcc.waitFor(60, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
                gcc.destroyForcibly();
                throw new IOException("gcc failed to build " + so + ":\n" + Files.readString(log));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while building the crashfs shim", e);
        }
        return so;
    }
}
