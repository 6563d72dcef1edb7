package org.vtpmback.backend.manufacture;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Big-endian marshalling of raw TPM 2.0 commands and bounds-checked unmarshalling of responses
 * (TPM 2.0 Library Part 1 §18 "Command/Response Structure", Part 2 for the types). Also used for the
 * TPM 1.2 commands, which share the 10-byte header layout (TPM 1.2 Main Part 3 §1).
 * Not thread-safe; one instance per command or response.
 */
final class Tpm2Marshal {
    // Part 2 §6.9 TPM_ST
    static final int TPM_ST_NO_SESSIONS = 0x8001;
    static final int TPM_ST_SESSIONS = 0x8002;
    // Part 2 §7.4 TPM_RH / TPM_RS
    static final int TPM_RH_OWNER = 0x40000001;
    static final int TPM_RS_PW = 0x40000009;
    static final int TPM_RH_ENDORSEMENT = 0x4000000B;
    static final int TPM_RH_PLATFORM = 0x4000000C;
    // Part 2 §6.3 TPM_ALG_ID
    static final int TPM_ALG_RSA = 0x0001;
    static final int TPM_ALG_AES = 0x0006;
    static final int TPM_ALG_SHA256 = 0x000B;
    static final int TPM_ALG_NULL = 0x0010;
    static final int TPM_ALG_CFB = 0x0043;

    static final int HEADER_SIZE = 10;

    private Tpm2Marshal() {
    }

    /** A command under construction: tag, size (patched by {@link #build}), command code, then fields. */
    static final class Command {
        private final ByteBuffer b = ByteBuffer.allocate(org.vtpmback.backend.engine.TpmEngine.MAX_COMMAND_SIZE);

        Command(int tag, int code) {
            b.putShort((short) tag).putInt(0).putInt(code);
        }

        Command u8(int v) {
            b.put((byte) v);
            return this;
        }

        Command u16(int v) {
            b.putShort((short) v);
            return this;
        }

        Command u32(int v) {
            b.putInt(v);
            return this;
        }

        Command bytes(byte[] v) {
            b.put(v);
            return this;
        }

        /** A TPM2B: UINT16 size, then the bytes (Part 2 §10.4). */
        Command tpm2b(byte[] v) {
            if (v.length > 0xFFFF) {
                throw new IllegalArgumentException("TPM2B too large: " + v.length);
            }
            return u16(v.length).bytes(v);
        }

        /**
         * The authorization area with one password session and an empty password: authorizationSize,
         * then TPMS_AUTH_COMMAND {TPM_RS_PW, empty nonce, attributes 0, empty hmac} (Part 1 §19.8.4).
         */
        Command passwordSession() {
            return u32(9).u32(TPM_RS_PW).u16(0).u8(0).u16(0);
        }

        byte[] build() {
            int n = b.position();
            b.putInt(2, n);
            return Arrays.copyOf(b.array(), n);
        }
    }

    /** The response code in a response header; -1 when the response is shorter than a header. */
    static int responseCode(byte[] response) {
        return response.length < HEADER_SIZE ? -1 : ByteBuffer.wrap(response).getInt(6);
    }

    /**
     * Reads a response after its header, failing with a {@link ManufactureException} that names the
     * command when a field runs past the end (a TPM answering garbage must not give an index error).
     */
    static final class Reader {
        private final String command;
        private final ByteBuffer b;

        private Reader(String command, byte[] data, int start) {
            this.command = command;
            this.b = ByteBuffer.wrap(data);
            b.position(Math.min(start, data.length));
        }

        /** Reads a whole response, starting after its 10-byte header. */
        static Reader response(String command, byte[] response) {
            return new Reader(command, response, HEADER_SIZE);
        }

        /** Reads a structure from its first byte; {@code what} names it in errors. */
        static Reader structure(String what, byte[] data) {
            return new Reader(what, data, 0);
        }

        private void need(int n) {
            if (b.remaining() < n) {
                throw new ManufactureException(command + ": response truncated at offset " + b.position());
            }
        }

        int u8() {
            need(1);
            return Byte.toUnsignedInt(b.get());
        }

        int u16() {
            need(2);
            return Short.toUnsignedInt(b.getShort());
        }

        int u32() {
            need(4);
            return b.getInt();
        }

        byte[] bytes(int n) {
            need(n);
            byte[] out = new byte[n];
            b.get(out);
            return out;
        }

        /** A TPM2B's contents. */
        byte[] tpm2b() {
            return bytes(u16());
        }

        int remaining() {
            return b.remaining();
        }
    }
}
