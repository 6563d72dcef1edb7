package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Reads one commit log (docs/reliability.md, "Checkpoints"): the entries of the epoch that starts it, up to the
 * first place where no entry of that epoch opens. After the last entry of a group come zeros up to the next
 * {@link CommitLog#ALIGN} boundary, where the next group starts: so where an entry does not open, the reader tries
 * once more at the next boundary. What lies after the end (a cut group, older epochs) is never returned.
 */
final class LogReader {
    /**
     * What a log holds.
     *
     * @param epoch   the epoch of its first entry; empty if none opens (a new, zeroed or cut log)
     * @param end     where the next group would start: the end of its last entry, rounded up to the boundary
     * @param records its records in the order they were written
     */
    record Contents(Optional<LogEntry.Epoch> epoch, long end, List<InstanceRecord> records) {
        static final Contents EMPTY = new Contents(Optional.empty(), 0, List.of());
    }

    private LogReader() {
    }

    /** Reads {@code file} (empty if it does not exist); {@code keys} gives each uuid's sealing key. */
    static Contents read(Path file, Function<Uuid, SealingKey> keys) throws IOException {
        ByteBuffer all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            long size = ch.size();
            if (size > CommitLog.SIZE) {
                throw new IOException("commit log " + file + " has " + size + " bytes, more than the " + CommitLog.SIZE + " it is made with");
            }
            all = ByteBuffer.allocate((int) size);
            while (all.hasRemaining() && ch.read(all, all.position()) >= 0) {
                // keep reading
            }
            all.flip();
        } catch (NoSuchFileException e) {
            return Contents.EMPTY;
        }
        return parse(all, keys);
    }

    /** The walk over a log's bytes; package-private for the torn-tail tests. */
    static Contents parse(ByteBuffer all, Function<Uuid, SealingKey> keys) {
        List<InstanceRecord> records = new ArrayList<>();
        LogEntry.Epoch epoch = null;
        int offset = 0;
        while (offset < all.limit()) {
            Optional<Opened> e = entryAt(all, offset, epoch, keys);
            if (e.isEmpty()) {
                int boundary = CommitLog.align(offset);
                e = boundary == offset ? e : entryAt(all, boundary, epoch, keys);
                if (e.isEmpty()) {
                    break;
                }
                offset = boundary;
            }
            epoch = e.get().epoch();
            records.add(e.get().record());
            offset += e.get().size();
        }
        return epoch == null ? Contents.EMPTY : new Contents(Optional.of(epoch), CommitLog.align(offset), List.copyOf(records));
    }

    private record Opened(LogEntry.Epoch epoch, InstanceRecord record, int size) {
    }

    /** The entry at {@code offset} if it is whole, of {@code epoch} (any epoch if null), opens and holds its uuid's record. */
    private static Optional<Opened> entryAt(ByteBuffer all, int offset, LogEntry.Epoch epoch, Function<Uuid, SealingKey> keys) {
        if (offset < 0 || offset >= all.limit()) {
            return Optional.empty();
        }
        ByteBuffer b = all.duplicate().position(offset);
        Optional<LogEntry.Header> h = LogEntry.header(b, CommitLog.MAX_SEALED);
        if (h.isEmpty() || (epoch != null && !epoch.equals(h.get().epoch())) || h.get().length() > b.remaining()) {
            return Optional.empty();
        }
        byte[] sealed = new byte[h.get().length()];
        b.get(sealed);
        try {
            InstanceRecord record = InstanceRecord.decode(Sealer.open(keys.apply(h.get().uuid()), h.get().epoch().context(h.get().uuid()), sealed));
            if (!record.uuid().equals(h.get().uuid())) {
                return Optional.empty();
            }
            return Optional.of(new Opened(h.get().epoch(), record, h.get().size()));
        } catch (SealedDataException | IOException e) {
            return Optional.empty(); // a cut or torn entry, or bytes of an older epoch: the end of this log
        }
    }
}
