package org.vtpmback.backend.manufacture;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.manufacture.Tpm2Marshal.Command;
import org.vtpmback.backend.manufacture.Tpm2Marshal.Reader;

/**
 * The TPM 1.2 NV commands the EK certificate needs (TPM 1.2 Main Part 3 §20, §7.1 for GetCapability), without
 * authorization sessions: a manufactured TPM has no owner and NV is not locked ({@code nvLocked} FALSE), so the TPM
 * ignores NV authorization (Part 3 §20.1 action 2, §20.2 action 1; libtpms {@code TPM_Process_NVDefineSpace}) and
 * every read of an index without a read restriction needs none anyway (§20.4). Every response code is checked: a
 * non-zero one throws a {@link ManufactureException} naming the command. Stateless apart from the engine; confined
 * like it.
 */
final class Tpm12Nv {
    /** Part 2 §19.1.1: the D bit, an index "set in manufacturing" that, once NV is locked, can never be deleted. */
    static final int INDEX_D_BIT = 0x10000000;
    // Part 2 §19.2 TPM_NV_ATTRIBUTES
    static final int PER_WRITEDEFINE = 0x00002000;
    /** Part 2 §16: the index is not defined. */
    static final int TPM_BADINDEX = 0x02;

    private static final int TPM_TAG_RQU_COMMAND = 0x00C1;
    // Part 2 §17 ordinals
    private static final int TPM_ORD_GET_CAPABILITY = 0x65;
    private static final int TPM_ORD_NV_DEFINE_SPACE = 0xCC;
    private static final int TPM_ORD_NV_WRITE_VALUE = 0xCD;
    private static final int TPM_ORD_NV_READ_VALUE = 0xCF;
    private static final int TPM_CAP_NV_INDEX = 0x11;
    // Part 2 §5.4, §8.4, §19
    private static final int TPM_TAG_NV_ATTRIBUTES = 0x0017;
    private static final int TPM_TAG_NV_DATA_PUBLIC = 0x0018;
    private static final int PCR_SELECT_SIZE = 3;
    /** TPM_LOC_ZERO..TPM_LOC_FOUR: readable and writable at any locality. */
    private static final int LOCALITY_ALL = 0x1F;
    private static final int DIGEST_SIZE = 20;
    /** Command and response overhead of NV_WriteValue / NV_ReadValue around the data. */
    private static final int NV_OVERHEAD = 64;
    private static final int LOCALITY = 0;

    private final TpmEngine engine;

    Tpm12Nv(TpmEngine engine) {
        this.engine = engine;
    }

    /** What TPM_GetCapability(TPM_CAP_NV_INDEX) tells of a defined index (Part 2 §19.3 TPM_NV_DATA_PUBLIC). */
    record DataPublic(int index, int permissions, boolean writeDefine, int dataSize) {
    }

    /** The largest data part of one NV read or write that fits the engine's command and response size. */
    static int chunk() {
        return TpmEngine.MAX_COMMAND_SIZE - NV_OVERHEAD;
    }

    /** TPM_GetCapability(TPM_CAP_NV_INDEX, index): its public data, or empty if it is not defined (TPM_BADINDEX). */
    Optional<DataPublic> dataPublic(int index) {
        byte[] cmd = new Command(TPM_TAG_RQU_COMMAND, TPM_ORD_GET_CAPABILITY).u32(TPM_CAP_NV_INDEX).u32(4).u32(index).build();
        String name = String.format(Locale.ROOT, "TPM_GetCapability(TPM_CAP_NV_INDEX, 0x%08x)", index);
        byte[] response = engine.execute(LOCALITY, cmd);
        int rc = Tpm2Marshal.responseCode(response);
        if (rc == TPM_BADINDEX) {
            return Optional.empty();
        }
        if (rc != 0) {
            throw new ManufactureException(name, rc);
        }
        Reader outer = Reader.response(name, response);
        Reader r = Reader.structure(name + " TPM_NV_DATA_PUBLIC", outer.bytes(outer.u32()));
        r.u16(); // tag
        int nvIndex = r.u32();
        skipPcrInfoShort(r);
        skipPcrInfoShort(r);
        r.u16(); // TPM_NV_ATTRIBUTES tag
        int permissions = r.u32();
        r.u8(); // bReadSTClear
        r.u8(); // bWriteSTClear
        boolean writeDefine = r.u8() != 0;
        return Optional.of(new DataPublic(nvIndex, permissions, writeDefine, r.u32()));
    }

    /**
     * TPM_NV_DefineSpace (Part 3 §20.1) of {@code size} bytes with {@code permissions}, no PCR restriction on reading
     * or writing (any locality) and an all-zero encAuth, without authorization (NV not locked).
     */
    void defineSpace(int index, int permissions, int size) {
        Command c = new Command(TPM_TAG_RQU_COMMAND, TPM_ORD_NV_DEFINE_SPACE).u16(TPM_TAG_NV_DATA_PUBLIC).u32(index);
        pcrInfoShort(c); // pcrInfoRead
        pcrInfoShort(c); // pcrInfoWrite
        c.u16(TPM_TAG_NV_ATTRIBUTES).u32(permissions)
                .u8(0).u8(0).u8(0) // bReadSTClear, bWriteSTClear, bWriteDefine: ignored by the TPM (§20.1 action 9a)
                .u32(size)
                .bytes(new byte[DIGEST_SIZE]); // encAuth
        call(String.format(Locale.ROOT, "TPM_NV_DefineSpace(0x%08x, %d bytes)", index, size), c.build());
    }

    /**
     * TPM_NV_WriteValue (Part 3 §20.2) of {@code data} at {@code offset}, in chunks of {@link #chunk()}; an empty
     * {@code data} is the one write of size 0, which on an index with TPM_NV_PER_WRITEDEFINE locks it for good
     * (§20.2 action 14b: bWriteDefine, kept in permanent state).
     */
    void writeValue(int index, int offset, byte[] data) {
        int off = 0;
        do {
            int n = Math.min(chunk(), data.length - off);
            byte[] cmd = new Command(TPM_TAG_RQU_COMMAND, TPM_ORD_NV_WRITE_VALUE).u32(index).u32(offset + off).u32(n)
                    .bytes(Arrays.copyOfRange(data, off, off + n)).build();
            call(String.format(Locale.ROOT, "TPM_NV_WriteValue(0x%08x, offset %d, %d bytes)", index, offset + off, n), cmd);
            off += n;
        } while (off < data.length);
    }

    /** TPM_NV_ReadValue (Part 3 §20.4) of {@code size} bytes at {@code offset} without authorization, in chunks. */
    byte[] readValue(int index, int offset, int size) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(size);
        for (int off = 0; off < size; off += chunk()) {
            int n = Math.min(chunk(), size - off);
            byte[] cmd = new Command(TPM_TAG_RQU_COMMAND, TPM_ORD_NV_READ_VALUE).u32(index).u32(offset + off).u32(n).build();
            Reader r = call(String.format(Locale.ROOT, "TPM_NV_ReadValue(0x%08x, offset %d, %d bytes)", index, offset + off, n),
                    cmd);
            out.writeBytes(r.bytes(r.u32()));
        }
        return out.toByteArray();
    }

    private Reader call(String name, byte[] command) {
        byte[] response = engine.execute(LOCALITY, command);
        int rc = Tpm2Marshal.responseCode(response);
        if (rc != 0) {
            throw new ManufactureException(name, rc);
        }
        return Reader.response(name, response);
    }

    /** TPM_PCR_INFO_SHORT (Part 2 §8.4) selecting no PCR, any locality, digestAtRelease all zero. */
    private static void pcrInfoShort(Command c) {
        c.u16(PCR_SELECT_SIZE).bytes(new byte[PCR_SELECT_SIZE]).u8(LOCALITY_ALL).bytes(new byte[DIGEST_SIZE]);
    }

    private static void skipPcrInfoShort(Reader r) {
        r.bytes(r.u16()); // TPM_PCR_SELECTION
        r.u8();           // localityAtRelease
        r.bytes(DIGEST_SIZE);
    }
}
