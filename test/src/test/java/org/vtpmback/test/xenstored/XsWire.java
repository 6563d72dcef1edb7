package org.vtpmback.test.xenstored;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The xenstore wire protocol (xen/include/public/io/xs_wire.h), as far as the test clients need it.
 * Every message is a {@code struct xsd_sockmsg} header (type, req_id, tx_id, len: little-endian u32)
 * followed by {@code len <= 4096} payload bytes, on the UNIX socket and on a guest ring alike.
 */
public final class XsWire {
    public static final int XS_CONTROL = 0;
    public static final int XS_DIRECTORY = 1;
    public static final int XS_READ = 2;
    public static final int XS_GET_PERMS = 3;
    public static final int XS_WATCH = 4;
    public static final int XS_UNWATCH = 5;
    public static final int XS_TRANSACTION_START = 6;
    public static final int XS_TRANSACTION_END = 7;
    public static final int XS_INTRODUCE = 8;
    public static final int XS_RELEASE = 9;
    public static final int XS_GET_DOMAIN_PATH = 10;
    public static final int XS_WRITE = 11;
    public static final int XS_MKDIR = 12;
    public static final int XS_RM = 13;
    public static final int XS_SET_PERMS = 14;
    public static final int XS_WATCH_EVENT = 15;
    public static final int XS_ERROR = 16;
    public static final int XS_IS_DOMAIN_INTRODUCED = 17;
    public static final int XS_RESUME = 18;
    public static final int XS_SET_TARGET = 19;
    public static final int XS_RESET_WATCHES = 21;
    public static final int XS_DIRECTORY_PART = 22;

    public static final int HEADER_SIZE = 16;
    /** XENSTORE_PAYLOAD_MAX. */
    public static final int PAYLOAD_MAX = 4096;

    private XsWire() {
    }

    /** One message as it travels on the wire. */
    public record Message(int type, int reqId, int txId, byte[] payload) {
        public byte[] encode() {
            if (payload.length > PAYLOAD_MAX) {
                throw new IllegalArgumentException("payload of " + payload.length + " bytes exceeds " + PAYLOAD_MAX);
            }
            return ByteBuffer.allocate(HEADER_SIZE + payload.length).order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(type).putInt(reqId).putInt(txId).putInt(payload.length).put(payload).array();
        }

        /** The payload as text with trailing NULs removed. */
        public String text() {
            int n = payload.length;
            while (n > 0 && payload[n - 1] == 0) {
                n--;
            }
            return new String(payload, 0, n, StandardCharsets.UTF_8);
        }
    }

    /** Header fields decoded from 16 bytes; {@code len} is validated against {@link #PAYLOAD_MAX}. */
    static int[] decodeHeader(byte[] header) {
        ByteBuffer b = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int[] h = {b.getInt(), b.getInt(), b.getInt(), b.getInt()};
        if (h[3] < 0 || h[3] > PAYLOAD_MAX * 4) { // oxenstored may exceed 4096 (see README); stay lenient but sane
            throw new IllegalStateException("corrupt xsd_sockmsg header, len=" + Integer.toUnsignedString(h[3]));
        }
        return h;
    }

    /** Each string NUL-terminated, concatenated. */
    public static byte[] strings(String... parts) {
        StringBuilder sb = new StringBuilder();
        for (String p : parts) {
            sb.append(p).append('\0');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** {@code path\0value} (XS_WRITE: the value is not NUL-terminated). */
    public static byte[] pathAndValue(String path, byte[] value) {
        byte[] p = (path + '\0').getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[p.length + value.length];
        System.arraycopy(p, 0, out, 0, p.length);
        System.arraycopy(value, 0, out, p.length, value.length);
        return out;
    }

    /** Splits a NUL-separated payload; a trailing NUL does not yield an empty last element. */
    public static List<String> split(byte[] payload) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < payload.length; i++) {
            if (payload[i] == 0) {
                out.add(new String(payload, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        if (start < payload.length) {
            out.add(new String(payload, start, payload.length - start, StandardCharsets.UTF_8));
        }
        return out;
    }
}
