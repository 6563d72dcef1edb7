package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One daemon per state directory. Two would serve the same guests and seal the same vTPMs, and the
 * second would take the first one's swtpm processes for survivors of a crash. An fcntl lock on
 * {@code <state-dir>/daemon.lock}, which also names the holder's pid; the kernel drops it when the
 * holder dies, however it dies, so a crash never leaves a stale lock behind.
 */
final class DaemonLock implements AutoCloseable {
    static final String FILE = "daemon.lock";

    private final FileChannel channel;

    private DaemonLock(FileChannel channel) {
        this.channel = channel;
    }

    /** Another daemon holds the lock. */
    static final class HeldElsewhere extends Exception {
        private static final long serialVersionUID = 1L;

        HeldElsewhere(String message) {
            super(message);
        }
    }

    static DaemonLock acquire(Path stateDir) throws IOException, HeldElsewhere {
        Path file = stateDir.resolve(FILE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                String holder = Files.readString(file, StandardCharsets.US_ASCII).strip();
                throw new HeldElsewhere("another vtpmback daemon" + (holder.isEmpty() ? "" : " (pid " + holder + ")")
                        + " is running on state-dir " + stateDir + " (it holds " + file + "); stop it first");
            }
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            return new DaemonLock(channel);
        } catch (IOException | HeldElsewhere | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * {@link #acquire}, retried until {@code wait} has passed: a reload's successor takes the lock the
     * moment the old daemon, which has just said "go", releases it on its way out.
     */
    static DaemonLock acquireWaiting(Path stateDir, java.time.Duration wait) throws IOException, HeldElsewhere, InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            try {
                return acquire(stateDir);
            } catch (HeldElsewhere e) {
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
                Thread.sleep(10);
            }
        }
    }

    /** Releases the lock (closing the channel does). */
    @Override
    public void close() throws IOException {
        channel.close();
    }
}
