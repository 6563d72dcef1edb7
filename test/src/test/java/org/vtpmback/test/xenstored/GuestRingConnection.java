package org.vtpmback.test.xenstored;

import static org.vtpmback.test.xenstored.XsWire.HEADER_SIZE;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * Raw xenstore client acting as the UNPRIVILEGED guest domain {@code domid}, through the ring page
 * the shim hands to xenstored for that domain ({@code <shimDir>/ring-<domid>}, mapped here with
 * {@link FileChannel#map}). After each change to the ring it writes {@code d<domid>\n} to the shim's
 * evtchn FIFO, the stand-in for the guest's event channel, so the daemon processes the ring now.
 * Relative paths resolve against {@code /local/domain/<domid>}; permissions are enforced as for a
 * real domU. The domain must be introduced (XS_INTRODUCE over the privileged socket) first; see
 * {@link XenstoredDaemon#introduceGuest(int)}.
 *
 * <p>Layout of {@code struct xenstore_domain_interface} (xs_wire.h): req[1024] @0, rsp[1024] @1024,
 * req_cons @2048, req_prod @2052, rsp_cons @2056, rsp_prod @2060 (free-running u32 indices).
 * The daemon's notifications to the guest are no-ops under the shim, so replies are polled.
 */
public final class GuestRingConnection extends RawXenstoreConnection {
    static final int RING_SIZE = 1024;
    static final int REQ = 0;
    static final int RSP = 1024;
    static final int REQ_CONS = 2048;
    static final int REQ_PROD = 2052;
    static final int RSP_CONS = 2056;
    static final int RSP_PROD = 2060;
    private static final int PAGE = 4096;
    private static final VarHandle U32 = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long POLL_NANOS = 200_000;
    private static final long REKICK_NANOS = 50_000_000;

    private final int domid;
    private final MappedByteBuffer ring;
    private final FileChannel evtchn;
    private final byte[] kickLine;
    private byte[] pending = new byte[2 * (HEADER_SIZE + XsWire.PAYLOAD_MAX)];
    private int pendingLen;
    private boolean closed;

    private GuestRingConnection(int domid, MappedByteBuffer ring, FileChannel evtchn) {
        this.domid = domid;
        this.ring = ring;
        this.evtchn = evtchn;
        this.kickLine = ("d" + domid + "\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** Maps {@code shimDir/ring-<domid>} (created if the daemon has not yet done so) and opens the evtchn FIFO. */
    public static GuestRingConnection open(Path shimDir, int domid) throws IOException {
        MappedByteBuffer ring;
        try (FileChannel f = FileChannel.open(shimDir.resolve("ring-" + domid),
                StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.CREATE)) {
            ring = f.map(FileChannel.MapMode.READ_WRITE, 0, PAGE);
        }
        ring.order(ByteOrder.LITTLE_ENDIAN);
        // O_RDWR on a FIFO never blocks on open (the daemon keeps its end open O_RDWR too).
        FileChannel evtchn = FileChannel.open(shimDir.resolve("evtchn"), StandardOpenOption.READ, StandardOpenOption.WRITE);
        return new GuestRingConnection(domid, ring, evtchn);
    }

    public int domid() {
        return domid;
    }

    private int u32(int off) {
        return (int) U32.getVolatile(ring, off);
    }

    private void setU32(int off, int v) {
        U32.setVolatile(ring, off, v);
    }

    /** Event channel kick from this domain: the daemon processes our ring now. */
    public void kick() throws IOException {
        ByteBuffer b = ByteBuffer.wrap(kickLine);
        while (b.hasRemaining()) {
            evtchn.write(b);
        }
    }

    private static void checkDeadline(long deadlineNanos, String what) throws ReceiveTimeoutException {
        if (System.nanoTime() - deadlineNanos > 0) {
            throw new ReceiveTimeoutException("guest ring: " + what);
        }
    }

    @Override
    protected void send(byte[] frame, long deadlineNanos) throws IOException {
        int off = 0;
        long lastKick = System.nanoTime();
        while (off < frame.length) {
            int cons = u32(REQ_CONS);
            int prod = u32(REQ_PROD);
            int used = prod - cons;
            if (used < 0 || used > RING_SIZE) {
                throw new IOException("guest ring " + domid + ": corrupt request indices cons=" + cons + " prod=" + prod);
            }
            int n = Math.min(RING_SIZE - used, frame.length - off);
            if (n == 0) {
                checkDeadline(deadlineNanos, "daemon does not consume requests");
                if (System.nanoTime() - lastKick > REKICK_NANOS) {
                    kick();
                    lastKick = System.nanoTime();
                }
                LockSupport.parkNanos(POLL_NANOS);
                continue;
            }
            for (int i = 0; i < n; i++) {
                ring.put(REQ + ((prod + i) & (RING_SIZE - 1)), frame[off + i]);
            }
            VarHandle.fullFence();
            setU32(REQ_PROD, prod + n);
            off += n;
            kick();
            lastKick = System.nanoTime();
        }
    }

    @Override
    protected XsWire.Message receive(long deadlineNanos) throws IOException {
        long lastKick = System.nanoTime();
        while (true) {
            XsWire.Message m = parse(pending, pendingLen);
            if (m != null) {
                int used = HEADER_SIZE + m.payload().length;
                System.arraycopy(pending, used, pending, 0, pendingLen - used);
                pendingLen -= used;
                return m;
            }
            int cons = u32(RSP_CONS);
            int prod = u32(RSP_PROD);
            int avail = prod - cons;
            if (avail < 0 || avail > RING_SIZE) {
                throw new IOException("guest ring " + domid + ": corrupt response indices cons=" + cons + " prod=" + prod);
            }
            if (avail == 0) {
                checkDeadline(deadlineNanos, "no reply from xenstored in time");
                if (System.nanoTime() - lastKick > REKICK_NANOS) {
                    kick(); // harmless; covers a daemon that waits for ring space or missed a kick
                    lastKick = System.nanoTime();
                }
                LockSupport.parkNanos(POLL_NANOS);
                continue;
            }
            VarHandle.fullFence();
            if (pendingLen + avail > pending.length) {
                pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLen + avail));
            }
            for (int i = 0; i < avail; i++) {
                pending[pendingLen + i] = ring.get(RSP + ((cons + i) & (RING_SIZE - 1)));
            }
            pendingLen += avail;
            VarHandle.fullFence();
            setU32(RSP_CONS, cons + avail);
            kick(); // the daemon may be waiting for response space
            lastKick = System.nanoTime();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            evtchn.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
