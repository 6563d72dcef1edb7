package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;

/**
 * Client for swtpm's control channel ({@code --ctrl type=unixio}), the non-CUSE protocol of
 * {@code tpm_ioctl.h}: a request is a big-endian u32 command code plus payload, sent in one write
 * (swtpm collects a request for at most 500 ms); the answer starts with a u32 TPM result code
 * (TPM 1.2 numbering), except GET_CAPABILITY's bare u64. A non-zero result throws
 * {@link EngineException}; transport failures (EOF, timeout) throw {@link IOException}, and then the
 * channel is out of step and must be discarded.
 *
 * <p>Owns one connection (swtpm serves one ctrl client at a time, trap 2). Not thread-safe: confined
 * to the engine's device executor. Every read has a deadline, so a dead or hung swtpm cannot hang
 * the caller.
 */
final class SwtpmCtrl implements AutoCloseable {
    static final int CMD_GET_CAPABILITY = 0x01;
    static final int CMD_INIT = 0x02;
    static final int CMD_SHUTDOWN = 0x03;
    static final int CMD_SET_LOCALITY = 0x05;
    static final int CMD_STORE_VOLATILE = 0x0a;
    static final int CMD_GET_STATEBLOB = 0x0c;
    static final int CMD_SET_STATEBLOB = 0x0d;
    static final int CMD_STOP = 0x0e;
    static final int CMD_GET_CONFIG = 0x0f;
    static final int CMD_SET_BUFFERSIZE = 0x11;

    static final int INIT_FLAG_DELETE_VOLATILE = 1;
    static final int BLOB_PERMANENT = 1;
    static final int BLOB_VOLATILE = 2;
    static final int BLOB_SAVESTATE = 3;
    static final int STATE_FLAG_DECRYPTED = 1;
    /** TPM_BAD_ORDINAL as the ctrl channel answers a request that needs a running TPM. */
    static final int TPM_NOT_RUNNING = 0x0a;
    /** TPM_RETRY: GET_STATEBLOB's "no such blob" (TPM 2 savestate); QEMU takes it as empty. */
    static final int TPM_RETRY = 0x800;
    /**
     * Largest state blob accepted from swtpm. libtpms' TPM 2 NV memory is 128 KiB + 65 * 704 B
     * (173 KiB) and its volatile state about 10 KiB; swtpm's files are capped at 256 KiB in the jail
     * (config key {@code swtpm-jail}). The bound keeps a broken or hostile swtpm from making the daemon allocate
     * whatever length it names.
     */
    static final int MAX_STATE_BLOB = 1 << 20;

    /** Answer of SET_BUFFERSIZE: the size in effect and the range libtpms accepts. */
    record BufferSize(int size, int min, int max) { }

    private final String instance;
    private final TimedChannel channel;
    private final Duration timeout;

    private SwtpmCtrl(String instance, TimedChannel channel, Duration timeout) {
        this.instance = instance;
        this.channel = channel;
        this.timeout = timeout;
    }

    static SwtpmCtrl connect(String instance, Path socket, Duration timeout) throws IOException {
        return new SwtpmCtrl(instance, TimedChannel.connect(socket), timeout);
    }

    /** The capability bits (0.7.1 answers a bare u64 without a result code). */
    long getCapability() throws IOException {
        return request(CMD_GET_CAPABILITY, ByteBuffer.allocate(0), 8, timeout).getLong();
    }

    /** {@code _TPM_Init}: restarts libtpms, loading the volatile state file if one exists (trap 3). */
    void init(int flags) throws IOException {
        simple("CMD_INIT", CMD_INIT, ByteBuffer.allocate(4).putInt(flags), timeout);
    }

    /** Makes swtpm exit; {@code wait} bounds the wait for its answer. */
    void shutdown(Duration wait) throws IOException {
        simple("CMD_SHUTDOWN", CMD_SHUTDOWN, ByteBuffer.allocate(0), wait);
    }

    /** Terminates libtpms; the process, its sockets and the state-dir lock stay (trap 6). */
    void stop() throws IOException {
        simple("CMD_STOP", CMD_STOP, ByteBuffer.allocate(0), timeout);
    }

    /** Sets the (global, sticky: trap 4) locality of the following data commands. */
    void setLocality(int locality) throws IOException {
        simple("CMD_SET_LOCALITY(" + locality + ")", CMD_SET_LOCALITY,
                ByteBuffer.allocate(1).put((byte) locality), timeout);
    }

    /** Writes the volatile state file (only while the TPM runs). */
    void storeVolatile() throws IOException {
        simple("CMD_STORE_VOLATILE", CMD_STORE_VOLATILE, ByteBuffer.allocate(0), timeout);
    }

    /** {@code PTM_CONFIG_FLAG_*} bits: 1 = state files encrypted with {@code --key}, 2 = {@code --migration-key}. */
    int getConfig() throws IOException {
        ByteBuffer b = request(CMD_GET_CONFIG, ByteBuffer.allocate(0), 4, timeout);
        check("CMD_GET_CONFIG", b.getInt());
        return readBody(4).getInt();
    }

    /** Sets the TPM I/O buffer size ({@code 0} only queries). Setting needs the TPM not running. */
    BufferSize setBufferSize(int size) throws IOException {
        ByteBuffer b = request(CMD_SET_BUFFERSIZE, ByteBuffer.allocate(4).putInt(size), 4, timeout);
        // Failures are a short 4-byte answer (swtpm.md "Short error answers"): read on only after rc 0.
        check("CMD_SET_BUFFERSIZE(" + size + ")", b.getInt());
        ByteBuffer body = readBody(12);
        return new BufferSize(body.getInt(), body.getInt(), body.getInt());
    }

    /** The whole plaintext blob of {@code type}; an empty array when swtpm has none (0x800 RETRY). */
    byte[] getStateBlob(int type) throws IOException {
        ByteBuffer req = ByteBuffer.allocate(12).putInt(STATE_FLAG_DECRYPTED).putInt(type).putInt(0);
        int rc = request(CMD_GET_STATEBLOB, req, 4, timeout).getInt();
        String what = "CMD_GET_STATEBLOB(" + blobName(type) + ")";
        if (rc != 0 && rc != TPM_RETRY) {
            // Early failures (TPM not running: 0x0a) answer 4 bytes, the blob code's own failures a
            // 16-byte header. swtpm sends either in one write, so whatever follows is already queued.
            channel.drainAvailable();
            throw new EngineException(instance, what, rc);
        }
        ByteBuffer h = readBody(12);
        h.getInt(); // state_flags: plaintext, as requested with DECRYPTED
        int total = h.getInt();
        int length = h.getInt();
        if (length < 0 || length > MAX_STATE_BLOB || total != length) {
            throw new IOException(what + ": refused a blob of " + Integer.toUnsignedString(length) + "/"
                    + Integer.toUnsignedString(total) + " B (socket answers are never chunked; at most "
                    + MAX_STATE_BLOB + " B)");
        }
        return readBody(length).array();
    }

    /** Loads a plaintext blob; the TPM must not be running (before INIT or after STOP). */
    void setStateBlob(int type, byte[] blob) throws IOException {
        // Header and data in one stream: swtpm reads the first 4104 bytes, then the rest itself.
        ByteBuffer req = ByteBuffer.allocate(12 + blob.length).putInt(0).putInt(type).putInt(blob.length).put(blob);
        simple("CMD_SET_STATEBLOB(" + blobName(type) + ", " + blob.length + " B)", CMD_SET_STATEBLOB, req, timeout);
    }

    /** The user swtpm ran as when it called {@code listen()} on this socket ({@code SO_PEERCRED}). */
    UserPrincipal peerUser() throws IOException {
        return channel.peerUser();
    }

    private void simple(String what, int cmd, ByteBuffer payload, Duration wait) throws IOException {
        check(what, request(cmd, payload, 4, wait).getInt());
    }

    private void check(String what, int rc) {
        if (rc != 0) {
            throw new EngineException(instance, what, rc);
        }
    }

    private ByteBuffer request(int cmd, ByteBuffer payload, int answerBytes, Duration wait) throws IOException {
        payload.flip();
        ByteBuffer out = ByteBuffer.allocate(4 + payload.remaining()).putInt(cmd).put(payload).flip();
        long deadline = TimedChannel.deadline(wait);
        channel.writeFully(out, deadline);
        ByteBuffer in = ByteBuffer.allocate(answerBytes);
        channel.readFully(in, deadline);
        return in.flip();
    }

    private ByteBuffer readBody(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        channel.readFully(b, TimedChannel.deadline(timeout));
        return b.flip();
    }

    private static String blobName(int type) {
        return switch (type) {
            case BLOB_PERMANENT -> "permanent";
            case BLOB_VOLATILE -> "volatile";
            case BLOB_SAVESTATE -> "savestate";
            default -> "type " + type;
        };
    }

    @Override
    public void close() {
        channel.close();
    }
}
