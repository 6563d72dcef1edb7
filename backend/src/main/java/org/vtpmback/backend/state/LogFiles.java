package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The two commit-log files of a store folder ({@link CommitLog#FILES}), open for writing: preallocated full of zeros
 * (so that a write in place never needs new space and an {@code fdatasync} has no metadata to commit), and locked, so
 * one process writes them. Knows where and how to write, not what: {@link CommitLog} decides that. Its errors name
 * the file and the step that failed. Not thread-safe: the commit log's one writing thread uses it.
 */
final class LogFiles implements AutoCloseable {
    private final Path dir;
    private final List<FileChannel> channels;
    private final FileLock lock;

    private LogFiles(Path dir, List<FileChannel> channels, FileLock lock) {
        this.dir = dir;
        this.channels = channels;
        this.lock = lock;
    }

    /**
     * Opens the logs of {@code dir}, making them (zeroed, durable) if missing; empty if another owner holds them.
     * {@code faults} wraps each channel once it is open: the identity, except in fault-injection tests.
     */
    static Optional<LogFiles> open(Path dir, UnaryOperator<FileChannel> faults) throws IOException {
        List<FileChannel> channels = new ArrayList<>();
        try {
            for (String name : CommitLog.FILES) {
                Path file = dir.resolve(name);
                preallocate(file);
                channels.add(faults.apply(FileChannel.open(file, Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS))));
            }
            FileLock lock;
            try {
                lock = channels.get(0).tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // another store of this JVM has them
            }
            if (lock == null) {
                closeAll(channels);
                return Optional.empty();
            }
            return Optional.of(new LogFiles(dir, channels, lock));
        } catch (IOException | RuntimeException e) {
            closeAll(channels);
            throw e;
        }
    }

    /** A log file of exactly {@link CommitLog#SIZE} zero bytes, made aside and renamed into place, durably; kept if it exists. */
    private static void preallocate(Path file) throws IOException {
        if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && Files.size(file) == CommitLog.SIZE) {
            return;
        }
        Path temp = file.resolveSibling("." + file.getFileName() + AtomicFiles.TEMP_SUFFIX);
        Files.deleteIfExists(temp);
        try {
            try (FileChannel ch = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(AtomicFiles.OWNER_ONLY))) {
                ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
                for (long at = 0; at < CommitLog.SIZE; at += zeros.capacity()) {
                    zeros.clear();
                    while (zeros.hasRemaining()) {
                        ch.write(zeros, at + zeros.position());
                    }
                }
                ch.force(true);
            }
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new IOException("cannot make the commit log " + file + ": " + e, e);
        } finally {
            Files.deleteIfExists(temp);
        }
        AtomicFiles.syncDirectory(file.toAbsolutePath().getParent());
    }

    Path path(int index) {
        return dir.resolve(CommitLog.FILES.get(index));
    }

    /** Writes all of {@code buf} at {@code at} in log {@code index}, then {@code fdatasync}s it: one group's one sync. */
    void writeAndSync(int index, long at, ByteBuffer buf) throws IOException {
        FileChannel ch = channels.get(index);
        try {
            while (buf.hasRemaining()) {
                ch.write(buf, at + buf.position());
            }
        } catch (IOException e) {
            throw new IOException("the commit log " + path(index) + " failed: writing " + buf.limit() + " bytes at offset " + at
                    + ": " + e, e);
        }
        try {
            ch.force(false);
        } catch (IOException e) {
            throw new IOException("the commit log " + path(index) + " failed: fdatasync: " + e, e);
        }
    }

    /** Releases the lock and closes the files. */
    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException e) {
            // closing the channel below releases it as well
        }
        closeAll(channels);
    }

    private static void closeAll(List<FileChannel> channels) {
        for (FileChannel c : channels) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing was pending in it: every group was synced or failed
            }
        }
    }
}
