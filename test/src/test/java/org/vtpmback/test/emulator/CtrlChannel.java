package org.vtpmback.test.emulator;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The swtpm control protocol (swtpm_ioctls(3), socket flavour: big-endian u32 command code plus
 * payload; answer starts with a u32 result) as far as a guest-side TPM client needs it:
 * CMD_GET_CAPABILITY answers a bare u64 (swtpm 0.7.1), CMD_SET_LOCALITY records the locality for
 * the frontend's next commands; everything else, CMD_INIT included, gets TPM_BAD_ORDINAL (0x0a),
 * because the backend alone drives the real TPM's lifecycle. Every request is logged in order so a
 * test can report what a client really sent.
 *
 * <p>Thread-safety: {@link #serve} on the server's ctrl thread; the getters from any thread.
 */
final class CtrlChannel {
    static final int CMD_GET_CAPABILITY = 0x01;
    static final int CMD_INIT = 0x02;
    static final int CMD_SET_LOCALITY = 0x05;
    /** PTM_CAP_SET_LOCALITY: the only control operation we implement. */
    static final long CAPS = 1L << 3;
    static final int TPM_SUCCESS = 0;
    static final int TPM_BAD_ORDINAL = 0x0a;
    static final int TPM_BAD_LOCALITY = 0x3d;
    /** The backend refuses locality 4 (swtpm --locality reject-locality-4); 0..3 pass. */
    static final int MAX_LOCALITY = 3;
    private static final System.Logger LOG = System.getLogger(CtrlChannel.class.getName());

    private final FrontendEmulator frontend;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private volatile int locality;

    CtrlChannel(FrontendEmulator frontend) {
        this.frontend = frontend;
    }

    List<String> log() {
        return new ArrayList<>(log);
    }

    int locality() {
        return locality;
    }

    /** Serves one client until it closes. */
    void serve(SocketChannel client) throws IOException {
        while (true) {
            ByteBuffer code = ByteBuffer.allocate(4);
            if (!SwtpmSocketServer.readFully(client, code)) {
                return;
            }
            int cmd = code.getInt(0);
            ByteBuffer answer = switch (cmd) {
                case CMD_GET_CAPABILITY -> {
                    record("GET_CAPABILITY");
                    yield ByteBuffer.allocate(8).putLong(0, CAPS);
                }
                case CMD_SET_LOCALITY -> setLocality(client);
                default -> {
                    // swtpm reads a whole request in one go; take whatever payload came with it
                    int extra = drainAvailable(client);
                    String name = cmd == CMD_INIT ? "INIT" : "0x" + Integer.toHexString(cmd);
                    record(name + " (+" + extra + " bytes) refused");
                    LOG.log(System.Logger.Level.INFO, "ctrl command " + name + " refused with TPM_BAD_ORDINAL");
                    yield result(TPM_BAD_ORDINAL);
                }
            };
            SwtpmSocketServer.writeFully(client, answer);
        }
    }

    private ByteBuffer setLocality(SocketChannel client) throws IOException {
        ByteBuffer payload = ByteBuffer.allocate(1);
        if (!SwtpmSocketServer.readFully(client, payload)) {
            throw new IOException("CMD_SET_LOCALITY without its locality byte");
        }
        int loc = Byte.toUnsignedInt(payload.get(0));
        int extra = drainAvailable(client); // QEMU pads the byte to 4
        record("SET_LOCALITY(" + loc + ")" + (extra > 0 ? " +" + extra + " bytes" : ""));
        if (loc > MAX_LOCALITY) {
            return result(TPM_BAD_LOCALITY);
        }
        locality = loc;
        frontend.setLocality(loc);
        return result(TPM_SUCCESS);
    }

    private void record(String entry) {
        log.add(entry);
        LOG.log(System.Logger.Level.DEBUG, "ctrl: " + entry);
    }

    private static ByteBuffer result(int rc) {
        return ByteBuffer.allocate(4).putInt(0, rc);
    }

    /** Reads what is already buffered without blocking; returns how many bytes. */
    private static int drainAvailable(SocketChannel client) throws IOException {
        client.configureBlocking(false);
        try {
            ByteBuffer sink = ByteBuffer.allocate(4096);
            int total = 0;
            int n;
            while ((n = client.read(sink)) > 0) {
                total += n;
                sink.clear();
            }
            return total;
        } finally {
            client.configureBlocking(true);
        }
    }
}
