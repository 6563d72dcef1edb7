package org.vtpmback.backend.manufacture;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Real swtpm engines under one temp dir, closed together; plus the raw read-back commands the tests
 * use, built here independently of the product's {@link Tpm2Client} (TPM 2.0 Part 3 layouts).
 */
final class TpmFixture implements AutoCloseable {
    private final Path root;
    private final SwtpmLauncher launcher;
    private final List<TpmEngine> engines = new ArrayList<>();

    TpmFixture(Path root) {
        this.root = root;
        this.launcher = new SwtpmLauncher(SwtpmConfig.defaults(root.resolve("run")));
    }

    Path stateDir(String name) {
        return root.resolve("state-" + name);
    }

    /** Started, _TPM_Init'ed and Startup(CLEAR)ed. */
    TpmEngine booted(String name, TpmFamily family) {
        TpmEngine e = launcher.create(name, family, stateDir(name));
        engines.add(e);
        e.initClear();
        assertEquals(0, e.sendStartupClear(), "Startup(CLEAR)");
        return e;
    }

    @Override
    public void close() {
        engines.forEach(TpmEngine::close);
    }

    static int rc(byte[] response) {
        return ByteBuffer.wrap(response).getInt(6);
    }

    private static byte[] cmd(int tag, int code, ByteBuffer body) {
        body.flip();
        ByteBuffer b = ByteBuffer.allocate(10 + body.remaining()).putShort((short) tag)
                .putInt(10 + body.remaining()).putInt(code).put(body);
        return b.array();
    }

    private static ByteBuffer pw(ByteBuffer b) {
        return b.putInt(9).putInt(0x40000009).putShort((short) 0).put((byte) 0).putShort((short) 0);
    }

    /** TPM2_ReadPublic(handle): the raw response. */
    static byte[] readPublic(int handle) {
        return cmd(0x8001, 0x173, ByteBuffer.allocate(4).putInt(handle));
    }

    /** TPM2_NV_ReadPublic(index). */
    static byte[] nvReadPublic(int index) {
        return cmd(0x8001, 0x169, ByteBuffer.allocate(4).putInt(index));
    }

    /** TPMA_NV and dataSize from an NV_ReadPublic response: hdr, u16 size, u32 index, u16 alg, u32 attrs. */
    static int nvAttributes(byte[] r) {
        return ByteBuffer.wrap(r).getInt(10 + 2 + 4 + 2);
    }

    static int nvDataSize(byte[] r) {
        ByteBuffer b = ByteBuffer.wrap(r);
        int policy = b.getShort(10 + 2 + 4 + 2 + 4);
        return Short.toUnsignedInt(b.getShort(10 + 2 + 4 + 2 + 4 + 2 + policy));
    }

    /** TPM2_NV_Read(auth, index, size, offset) with an empty password. */
    static byte[] nvRead(int auth, int index, int size, int offset) {
        return cmd(0x8002, 0x14e, pw(ByteBuffer.allocate(40).putInt(auth).putInt(index)).putShort((short) size)
                .putShort((short) offset));
    }

    /** TPM2_NV_Write(auth, index, data, offset 0) with an empty password. */
    static byte[] nvWrite(int auth, int index, byte[] data) {
        return cmd(0x8002, 0x137, pw(ByteBuffer.allocate(40 + data.length).putInt(auth).putInt(index))
                .putShort((short) data.length).put(data).putShort((short) 0));
    }

    /** Reads a whole NV index in {@code chunk}-byte NV_Reads, authorised by the owner. */
    static byte[] readNv(TpmEngine e, int index, int size, int chunk) {
        byte[] out = new byte[size];
        for (int off = 0; off < size; off += chunk) {
            int n = Math.min(chunk, size - off);
            byte[] r = e.execute(0, nvRead(0x40000001, index, n, off));
            assertEquals(0, rc(r), "NV_Read at " + off);
            int got = Short.toUnsignedInt(ByteBuffer.wrap(r).getShort(14));
            assertEquals(n, got);
            System.arraycopy(r, 16, out, off, n);
        }
        return out;
    }

    /** The RSA modulus in a ReadPublic response of a key made from template L-1 (fixed offsets). */
    static byte[] modulus(byte[] readPublicResponse) {
        // hdr 10, TPM2B size 2, type 2, nameAlg 2, attrs 4, policy 2+32, sym 6, scheme 2, bits 2, exp 4, size 2
        int off = 10 + 2 + 2 + 2 + 4 + 34 + 6 + 2 + 2 + 4;
        int len = Short.toUnsignedInt(ByteBuffer.wrap(readPublicResponse).getShort(off));
        return Arrays.copyOfRange(readPublicResponse, off + 2, off + 2 + len);
    }

    // ---- TPM 1.2 (TPM 1.2 Main Part 3), unauthorized commands as a guest sends them ----

    /** A TPM 1.2 command, tag TPM_TAG_RQU_COMMAND. */
    static byte[] tpm12(int ordinal, byte[] body) {
        return ByteBuffer.allocate(10 + body.length).putShort((short) 0x00C1).putInt(10 + body.length).putInt(ordinal)
                .put(body).array();
    }

    /** TPM_NV_ReadValue(index, offset, size) without authorization (0xCF). */
    static byte[] nvReadValue12(int index, int offset, int size) {
        return tpm12(0xCF, ByteBuffer.allocate(12).putInt(index).putInt(offset).putInt(size).array());
    }

    /** TPM_NV_WriteValue(index, offset, data) without authorization (0xCD). */
    static byte[] nvWriteValue12(int index, int offset, byte[] data) {
        return tpm12(0xCD, ByteBuffer.allocate(12 + data.length).putInt(index).putInt(offset).putInt(data.length).put(data)
                .array());
    }

    /** TPM_NV_DefineSpace(index, attributes, size) without authorization, no PCRs, any locality (0xCC). */
    static byte[] nvDefineSpace12(int index, int attributes, int size) {
        ByteBuffer b = ByteBuffer.allocate(2 + 4 + 2 * 26 + 6 + 3 + 4 + 20).putShort((short) 0x0018).putInt(index);
        for (int i = 0; i < 2; i++) {
            b.putShort((short) 3).put(new byte[3]).put((byte) 0x1F).put(new byte[20]);
        }
        return tpm12(0xCC, b.putShort((short) 0x0017).putInt(attributes).put(new byte[3]).putInt(size).put(new byte[20]).array());
    }

    /** TPM_GetCapability(TPM_CAP_NV_INDEX, index) (0x65): the raw response, TPM_NV_DATA_PUBLIC after 14 bytes. */
    static byte[] nvIndexCapability12(int index) {
        return tpm12(0x65, ByteBuffer.allocate(12).putInt(0x11).putInt(4).putInt(index).array());
    }

    /** The data of a successful TPM_NV_ReadValue response: header 10, dataSize 4, data. */
    static byte[] nvReadData12(byte[] response) {
        assertEquals(0, rc(response), "TPM_NV_ReadValue");
        int n = ByteBuffer.wrap(response).getInt(10);
        return Arrays.copyOfRange(response, 14, 14 + n);
    }
}
