package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The commit logs as a process that does not write them sees them (the {@code vtpmback} commands beside the
 * daemon): the newest record of each vTPM in either log. Both logs are read again only when one changed, and read
 * again at once if one changed while they were read (the daemon may start a new epoch meanwhile, which holds every
 * live entry of the old one; appends within an epoch are harmless). Thread-safe.
 */
final class LogView {
    private static final int ATTEMPTS = 5;

    private record Stamp(Object fileKey, long size, java.time.Instant modified) {
    }

    private record Snapshot(List<Stamp> stamps, Map<Uuid, InstanceRecord> newest) {
    }

    private final Path dir;
    private final Function<Uuid, SealingKey> keys;
    private volatile Snapshot snapshot;

    LogView(Path dir, Function<Uuid, SealingKey> keys) {
        this.dir = dir;
        this.keys = keys;
    }

    /** The newest record of {@code uuid} in the logs, if any. */
    Optional<InstanceRecord> newest(Uuid uuid) throws IOException {
        return Optional.ofNullable(current().newest().get(uuid));
    }

    private Snapshot current() throws IOException {
        List<Stamp> before = stamps();
        Snapshot s = snapshot;
        if (s != null && s.stamps().equals(before)) {
            return s;
        }
        List<Optional<LogEntry.Epoch>> epochs = epochs();
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Map<Uuid, InstanceRecord> newest = new HashMap<>();
            for (String name : CommitLog.FILES) {
                LogReader.read(dir.resolve(name), keys).records()
                        .forEach(r -> newest.merge(r.uuid(), r, (a, b) -> b.generation() > a.generation() ? b : a));
            }
            List<Optional<LogEntry.Epoch>> now = epochs();
            if (now.equals(epochs)) {
                snapshot = new Snapshot(before, Map.copyOf(newest)); // stamps from before: a later append reads again
                return snapshot;
            }
            epochs = now;
            before = stamps();
        }
        throw new IOException("the commit logs in " + dir + " kept changing while they were read (" + ATTEMPTS + " tries);"
                + " try again");
    }

    /** The epoch each log starts with, from its first header (not authenticated: only to see a new epoch begin). */
    private List<Optional<LogEntry.Epoch>> epochs() throws IOException {
        List<Optional<LogEntry.Epoch>> out = new java.util.ArrayList<>();
        for (String name : CommitLog.FILES) {
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(dir.resolve(name),
                    java.nio.file.StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(LogEntry.HEADER);
                while (b.hasRemaining() && ch.read(b, b.position()) >= 0) {
                    // keep reading
                }
                b.flip();
                out.add(LogEntry.header(b, CommitLog.MAX_SEALED).map(LogEntry.Header::epoch));
            } catch (NoSuchFileException e) {
                out.add(Optional.empty());
            }
        }
        return out;
    }

    private List<Stamp> stamps() throws IOException {
        List<Stamp> out = new java.util.ArrayList<>();
        for (String name : CommitLog.FILES) {
            try {
                BasicFileAttributes a = Files.readAttributes(dir.resolve(name), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                out.add(new Stamp(a.fileKey(), a.size(), a.lastModifiedTime().toInstant()));
            } catch (NoSuchFileException e) {
                out.add(new Stamp(null, -1, java.time.Instant.EPOCH));
            }
        }
        return out;
    }
}
