package org.vtpmback.backend.state;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Optional;

/**
 * The layout of one commit-log entry (docs/reliability.md, "Checkpoints"): a 64-byte header in the clear, then
 * the record sealed with its vTPM's key exactly as a record file is ({@link Sealer}), with the epoch and the uuid
 * in the associated data. Header: magic {@code VTPMCL} and version (8), the epoch's sequence (8) and random part
 * (8), the uuid in ASCII (36), the sealed length (4). Immutable helpers only.
 */
final class LogEntry {
    static final int HEADER = 64;
    static final byte[] MAGIC = {'V', 'T', 'P', 'M', 'C', 'L', 0, 1};
    private static final int UUID_LENGTH = 36;
    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * One epoch of a log: what it holds was written from its start in one run of appends. The random part keeps two
     * epochs apart even if a crash made a sequence number repeat (the start of an epoch cut before it was durable).
     */
    record Epoch(long sequence, long salt) {
        /** The epoch after {@code sequence}. */
        static Epoch after(long sequence) {
            return new Epoch(sequence + 1, RANDOM.nextLong());
        }

        /** Associated data of an entry of {@code uuid} in this epoch. */
        String context(Uuid uuid) {
            return "vtpmback commit log " + sequence + "/" + Long.toHexString(salt) + " " + uuid.value();
        }
    }

    /** A header as read; {@code length} is the sealed part's, already checked against the bounds given. */
    record Header(Epoch epoch, Uuid uuid, int length) {
        int size() {
            return HEADER + length;
        }
    }

    private LogEntry() {
    }

    /** Header and sealed record, ready to be written. */
    static byte[] encode(Epoch epoch, Uuid uuid, byte[] sealed) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + sealed.length);
        b.put(MAGIC).putLong(epoch.sequence()).putLong(epoch.salt()).put(uuid.value().getBytes(StandardCharsets.US_ASCII))
                .putInt(sealed.length).put(sealed);
        return b.array();
    }

    /** The record sealed for an entry of {@code uuid} in {@code epoch}. */
    static byte[] seal(SealingKey key, Epoch epoch, InstanceRecord record) {
        return encode(epoch, record.uuid(), Sealer.seal(key, epoch.context(record.uuid()), record.encode()));
    }

    /**
     * The header at the buffer's position (which it advances past the header), or empty if none is there: wrong magic,
     * not a canonical uuid, or a sealed length outside {@code [Sealer's smallest, maxSealed]}.
     */
    static Optional<Header> header(ByteBuffer b, int maxSealed) {
        if (b.remaining() < HEADER) {
            return Optional.empty();
        }
        byte[] magic = new byte[MAGIC.length];
        b.get(magic);
        if (!Arrays.equals(MAGIC, magic)) {
            return Optional.empty();
        }
        Epoch epoch = new Epoch(b.getLong(), b.getLong());
        byte[] u = new byte[UUID_LENGTH];
        b.get(u);
        String uuid = new String(u, StandardCharsets.US_ASCII);
        int length = b.getInt();
        if (!Uuid.isCanonical(uuid) || length < Sealer.HEADER + Sealer.TAG_BITS / 8 || length > maxSealed) {
            return Optional.empty();
        }
        return Optional.of(new Header(epoch, new Uuid(uuid), length));
    }
}
