package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Crash-safe file replacement: write a temp file in the same folder (created with its final
 * permissions, never widened later), fsync it, rename it over the target, fsync the folder. After a
 * crash at any point the target holds either the old or the new content, never a mix.
 */
public final class AtomicFiles {
    public static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    public static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");
    /** Temp files carry this suffix; leftovers of a crash are removed by {@link #removeLeftovers}. */
    public static final String TEMP_SUFFIX = ".tmp-vtpmback";

    private AtomicFiles() {
    }

    /**
     * Replaces {@code target} with {@code data}, atomically and durably, the file having exactly
     * {@code permissions} before any byte is written (the umask only narrows a new file; a public file,
     * such as a certificate, is widened to its mode while still empty).
     */
    public static void write(Path target, byte[] data, Set<PosixFilePermission> permissions) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path temp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + TEMP_SUFFIX);
        try {
            try (FileChannel ch = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(permissions))) {
                Files.setPosixFilePermissions(temp, permissions);
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot replace " + target + " atomically on this file system", e);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        syncDirectory(dir);
    }

    /**
     * Replaces several files of one folder, each atomically, with one fsync of the folder for all of them: every
     * temp file is written and fsynced, then all are renamed, then the folder is fsynced. After a crash each target
     * holds its old or its new content (not necessarily all old or all new). Owner-only permissions.
     */
    public static void writeAll(Path dir, java.util.Map<Path, byte[]> targets) throws IOException {
        if (targets.isEmpty()) {
            return;
        }
        java.util.Map<Path, Path> temps = new java.util.LinkedHashMap<>();
        try {
            for (java.util.Map.Entry<Path, byte[]> t : targets.entrySet()) {
                if (!t.getKey().toAbsolutePath().getParent().equals(dir.toAbsolutePath())) {
                    throw new IllegalArgumentException(t.getKey() + " is not in " + dir);
                }
                Path temp = dir.resolve("." + t.getKey().getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                        + TEMP_SUFFIX);
                temps.put(t.getKey(), temp);
                try (FileChannel ch = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                        PosixFilePermissions.asFileAttribute(OWNER_ONLY))) {
                    ByteBuffer buf = ByteBuffer.wrap(t.getValue());
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                    ch.force(true);
                } catch (IOException e) {
                    throw new IOException("cannot write the new " + t.getKey() + " (temp file " + temp + "): " + e, e);
                }
            }
            for (java.util.Map.Entry<Path, Path> t : temps.entrySet()) {
                try {
                    Files.move(t.getValue(), t.getKey(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new IOException("cannot replace " + t.getKey() + " atomically on this file system", e);
                } catch (IOException e) {
                    throw new IOException("cannot replace " + t.getKey() + ": " + e, e);
                }
            }
        } finally {
            for (Path temp : temps.values()) {
                Files.deleteIfExists(temp);
            }
        }
        syncDirectory(dir);
    }

    /** Makes a rename or delete in {@code dir} durable. */
    public static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** Deletes {@code target} durably; false if it was not there. */
    public static boolean delete(Path target) throws IOException {
        boolean deleted = Files.deleteIfExists(target);
        if (deleted) {
            syncDirectory(target.toAbsolutePath().getParent());
        }
        return deleted;
    }

    /**
     * Creates {@code dir} (and parents) with owner-only access, durably: the folder holding each new
     * one is fsynced, or a power cut could take the new name, and every file saved in it, away. An
     * existing folder is left as it is. A symbolic link at {@code dir} is refused, not followed:
     * secrets are never written through one (links further up the path, such as /var/run, are fine).
     */
    public static Path createPrivateDirectory(Path dir) throws IOException {
        if (Files.isSymbolicLink(dir)) {
            throw new IOException(dir + " is a symbolic link; refusing to follow it: configure the real folder itself");
        }
        createDurably(dir.toAbsolutePath());
        return dir;
    }

    private static void createDurably(Path abs) throws IOException {
        if (!Files.isDirectory(abs)) {
            Path parent = abs.getParent();
            if (parent != null) {
                createDurably(parent);
            }
            try {
                Files.createDirectory(abs, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(abs)) {
                    throw new IOException(abs + " exists and is not a folder", e);
                }
            }
            if (parent != null) {
                syncDirectory(parent);
            }
        }
    }

    /** Removes temp files a crash left behind in {@code dir}; they never hold committed data. */
    public static void removeLeftovers(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (p.getFileName().toString().endsWith(TEMP_SUFFIX)) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
