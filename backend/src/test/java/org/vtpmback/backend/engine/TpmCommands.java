package org.vtpmback.backend.engine;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Raw TPM commands the tests send, built by hand from TPM 2.0 Part 3 / TPM 1.2 Part 3 layouts so the
 * tests depend on nothing but swtpm. The public ones are shared with the {@code test} module (through
 * the backend's test-jar), e.g. by its relay benchmark. Stateless; every call returns a fresh array.
 */
public final class TpmCommands {
    static final int TPM_RC_INITIALIZE = 0x100;
    static final int TPM_RS_PW = 0x40000009;
    static final int TPM_RH_OWNER = 0x40000001;
    static final int TPM_ALG_SHA256 = 0x000b;
    static final int TPM_PT_MAX_COMMAND_SIZE = 0x11e;
    static final int TPM_PT_MAX_RESPONSE_SIZE = 0x11f;

    private TpmCommands() {
    }

    /** A command under construction: tag, size (patched in {@link #build}), command code. */
    static final class Cmd {
        private final ByteBuffer b = ByteBuffer.allocate(4096);

        Cmd(int tag, int code) {
            b.putShort((short) tag).putInt(0).putInt(code);
        }

        Cmd u8(int v) {
            b.put((byte) v);
            return this;
        }

        Cmd u16(int v) {
            b.putShort((short) v);
            return this;
        }

        Cmd u32(int v) {
            b.putInt(v);
            return this;
        }

        Cmd bytes(byte[] v) {
            b.put(v);
            return this;
        }

        Cmd tpm2b(byte[] v) {
            return u16(v.length).bytes(v);
        }

        /** authorizationSize + TPMS_AUTH_COMMAND for an empty password (TPM_RS_PW). */
        Cmd passwordSession() {
            return u32(9).u32(TPM_RS_PW).u16(0).u8(0).u16(0);
        }

        byte[] build() {
            int n = b.position();
            b.putInt(2, n);
            return Arrays.copyOf(b.array(), n);
        }
    }

    public static int rc(byte[] response) {
        return ByteBuffer.wrap(response).getInt(6);
    }

    // ---- TPM 2.0 ----

    public static byte[] getRandom(int n) {
        return new Cmd(0x8001, 0x17b).u16(n).build();
    }

    public static byte[] pcrExtendSha256(int pcr, byte[] digest) {
        return new Cmd(0x8002, 0x182).u32(pcr).passwordSession().u32(1).u16(TPM_ALG_SHA256).bytes(digest).build();
    }

    public static byte[] pcrReadSha256(int pcr) {
        byte[] select = new byte[3];
        select[pcr / 8] = (byte) (1 << (pcr % 8));
        return new Cmd(0x8001, 0x17e).u32(1).u16(TPM_ALG_SHA256).u8(3).bytes(select).build();
    }

    /** The digest in a one-PCR PCR_Read response: header, updateCounter, 10-byte selection, count, size. */
    static byte[] pcrDigest(byte[] response) {
        return Arrays.copyOfRange(response, 10 + 4 + 10 + 4 + 2, 10 + 4 + 10 + 4 + 2 + 32);
    }

    /** TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, prop, 1). */
    static byte[] getCapabilityProperty(int property) {
        return new Cmd(0x8001, 0x17a).u32(6).u32(property).u32(1).build();
    }

    /** Value of the single property: header, moreData, capability, count, property, then the value. */
    static int capabilityValue(byte[] response) {
        return ByteBuffer.wrap(response).getInt(10 + 1 + 4 + 4 + 4);
    }

    /** Owner-authorised NV index, readable and writable with the owner's (empty) password, not DA-protected. */
    public static byte[] nvDefineSpace(int index, int size) {
        int attributes = 0x2 | 0x4 | 0x20000 | 0x40000 | 0x2000000; // OWNER/AUTH WRITE+READ, NO_DA
        byte[] pub = ByteBuffer.allocate(14).putInt(index).putShort((short) TPM_ALG_SHA256).putInt(attributes)
                .putShort((short) 0).putShort((short) size).array();
        return new Cmd(0x8002, 0x12a).u32(TPM_RH_OWNER).passwordSession().tpm2b(new byte[0]).tpm2b(pub).build();
    }

    public static byte[] nvWrite(int index, byte[] data) {
        return new Cmd(0x8002, 0x137).u32(TPM_RH_OWNER).u32(index).passwordSession().tpm2b(data).u16(0).build();
    }

    public static byte[] nvRead(int index, int size) {
        return new Cmd(0x8002, 0x14e).u32(TPM_RH_OWNER).u32(index).passwordSession().u16(size).u16(0).build();
    }

    /** The data of an NV_Read response: header, parameterSize, then a TPM2B. */
    public static byte[] nvReadData(byte[] response) {
        int size = ByteBuffer.wrap(response).getShort(14);
        return Arrays.copyOfRange(response, 16, 16 + size);
    }

    public static byte[] digest(int seed) {
        byte[] d = new byte[32];
        Arrays.fill(d, (byte) seed);
        return d;
    }

    // ---- TPM 1.2 ----

    static byte[] tpm12GetRandom(int n) {
        return ByteBuffer.allocate(14).putShort((short) 0xc1).putInt(14).putInt(0x46).putInt(n).array();
    }

    static byte[] tpm12Extend(int pcr, byte[] digest20) {
        return ByteBuffer.allocate(34).putShort((short) 0xc1).putInt(34).putInt(0x14).putInt(pcr).put(digest20).array();
    }

    static byte[] tpm12PcrRead(int pcr) {
        return ByteBuffer.allocate(14).putShort((short) 0xc1).putInt(14).putInt(0x15).putInt(pcr).array();
    }
}
