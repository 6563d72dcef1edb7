package org.vtpmback.backend.state;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Everything stored for one vTPM, sealed as one file so that one atomic rename commits all of it.
 *
 * @param uuid       the vTPM's identity (backend key {@code uuid})
 * @param family     TPM 2.0 or 1.2, fixed at creation
 * @param createdAt  when it was manufactured
 * @param generation incremented on every save; tells operators and tests which save is on disk
 * @param lastEnd    how the last incarnation ended
 * @param permanent  swtpm's permanent-state blob (keys, NV, owner, seeds)
 * @param snapshot   volatile state (PCRs, sessions, loaded objects) kept only for a resume
 */
public record InstanceRecord(Uuid uuid, TpmFamily family, Instant createdAt, long generation, EndKind lastEnd,
                             byte[] permanent, Optional<Snapshot> snapshot) {
    private static final int FORMAT = 1;
    /** Upper bound for any blob we read back: swtpm blobs are a few KiB, so this catches garbage early. */
    private static final int MAX_BLOB = 1 << 20;

    /** How an incarnation ended. */
    public enum EndKind {
        /** Manufactured, never run by a guest yet. */
        NEW,
        /** Running right now (or the daemon died while it ran: the last checkpoint is on disk). */
        RUNNING,
        /** The guest powered off or rebooted (orderly TPM shutdown sent). */
        SHUTDOWN,
        /** The domain was suspended (save, migration): a snapshot is kept for the resume. */
        SUSPENDED,
        /** The domain was destroyed or crashed: permanent state only, as after a power cut. */
        DESTROYED,
        /** vtpmback stopped under a running guest: a snapshot is kept for the re-attach. */
        DAEMON_STOPPED,
        /**
         * vtpmback died under a running guest and its swtpm survived: the next daemon took the running
         * state from that swtpm as a snapshot for the re-attach.
         */
        DAEMON_CRASHED
    }

    /** Volatile state and why it was taken. */
    public record Snapshot(EndKind reason, byte[] volatileState) {
    }

    public InstanceRecord withSave(long newGeneration, EndKind end, byte[] newPermanent, Optional<Snapshot> newSnapshot) {
        return new InstanceRecord(uuid, family, createdAt, newGeneration, end, newPermanent, newSnapshot);
    }

    byte[] encode() {
        try {
            // Sized for the blobs up front: no reallocation while the 12.5 KB state is written (once per checkpoint).
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(256 + permanent.length
                    + snapshot.map(s -> s.volatileState().length).orElse(0));
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(FORMAT);
            out.writeUTF(uuid.value());
            out.writeUTF(family.name());
            out.writeLong(createdAt.toEpochMilli());
            out.writeLong(generation);
            out.writeUTF(lastEnd.name());
            writeBlob(out, permanent);
            out.writeBoolean(snapshot.isPresent());
            if (snapshot.isPresent()) {
                out.writeUTF(snapshot.get().reason().name());
                writeBlob(out, snapshot.get().volatileState());
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("encoding to memory failed", e);
        }
    }

    static InstanceRecord decode(byte[] data) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
        int format = in.readInt();
        if (format != FORMAT) {
            throw new IOException("unknown record format " + format);
        }
        try {
            Uuid uuid = new Uuid(in.readUTF());
            TpmFamily family = TpmFamily.valueOf(in.readUTF());
            Instant created = Instant.ofEpochMilli(in.readLong());
            long generation = in.readLong();
            EndKind end = EndKind.valueOf(in.readUTF());
            byte[] permanent = readBlob(in);
            Optional<Snapshot> snapshot = Optional.empty();
            if (in.readBoolean()) {
                snapshot = Optional.of(new Snapshot(EndKind.valueOf(in.readUTF()), readBlob(in)));
            }
            if (in.available() != 0) {
                throw new IOException(in.available() + " trailing bytes");
            }
            return new InstanceRecord(uuid, family, created, generation, end, permanent, snapshot);
        } catch (IllegalArgumentException e) {
            throw new IOException("bad field: " + e.getMessage(), e);
        }
    }

    private static void writeBlob(DataOutputStream out, byte[] blob) throws IOException {
        out.writeInt(blob.length);
        out.write(blob);
    }

    private static byte[] readBlob(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_BLOB) {
            throw new IOException("blob length " + n + " out of range");
        }
        byte[] blob = in.readNBytes(n);
        if (blob.length != n) {
            throw new IOException("blob of " + n + " bytes cut short at " + blob.length);
        }
        return blob;
    }

    @Override
    public String toString() {
        return "vTPM " + uuid + " (" + family + ", generation " + generation + ", last end " + lastEnd
                + snapshot.map(s -> ", " + s.reason() + " snapshot").orElse("") + ")";
    }
}
