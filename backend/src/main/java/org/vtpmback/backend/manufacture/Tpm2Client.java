package org.vtpmback.backend.manufacture;

import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ALG_SHA256;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_RH_OWNER;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ST_NO_SESSIONS;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_ST_SESSIONS;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.manufacture.Tpm2Marshal.Command;
import org.vtpmback.backend.manufacture.Tpm2Marshal.Reader;

/**
 * The few TPM 2.0 commands manufacturing needs, as raw commands through {@link TpmEngine#execute} at
 * locality 0 (TPM 2.0 Library Part 3, section per method). Every response code is checked: a non-zero
 * one throws a {@link ManufactureException} naming the command and the code in hex. Authorization is
 * always one password session with the (empty) hierarchy password, as on a freshly started TPM.
 * Not thread-safe; confined like the engine it wraps.
 */
final class Tpm2Client {
    // Part 2 §6.5.2 TPM_CC
    private static final int CC_EVICT_CONTROL = 0x120;
    private static final int CC_NV_DEFINE_SPACE = 0x12A;
    private static final int CC_CREATE_PRIMARY = 0x131;
    private static final int CC_NV_WRITE = 0x137;
    private static final int CC_NV_WRITE_LOCK = 0x138;
    private static final int CC_NV_READ = 0x14E;
    private static final int CC_FLUSH_CONTEXT = 0x165;
    private static final int CC_NV_READ_PUBLIC = 0x169;
    private static final int CC_READ_PUBLIC = 0x173;
    private static final int CC_GET_CAPABILITY = 0x17A;
    private static final int TPM_CAP_TPM_PROPERTIES = 6;
    /** Part 2 §6.6: the format-one error bits and parameter/handle/session number are masked off. */
    private static final int RC_FMT1 = 0x080;
    private static final int RC_HANDLE = 0x08B;
    private static final int LOCALITY = 0;

    private final TpmEngine engine;

    Tpm2Client(TpmEngine engine) {
        this.engine = engine;
    }

    /** Sends {@code command}; returns a reader after the header, or throws on a non-zero code. */
    private Reader call(String name, byte[] command) {
        byte[] response = engine.execute(LOCALITY, command);
        int rc = Tpm2Marshal.responseCode(response);
        if (rc != 0) {
            throw new ManufactureException(name, rc);
        }
        return Reader.response(name, response);
    }

    /** The base error of a format-1 code (Part 2 §6.6.3), i.e. without the parameter/handle number. */
    static int baseError(int rc) {
        return (rc & RC_FMT1) != 0 ? rc & 0xBF : rc;
    }

    /** TPM2_CreatePrimary (Part 3 §24.1) with empty userAuth/data/outsideInfo and no creation PCRs. */
    int createPrimary(int hierarchy, byte[] publicTemplate) {
        byte[] cmd = new Command(TPM_ST_SESSIONS, CC_CREATE_PRIMARY).u32(hierarchy).passwordSession()
                .u16(4).u16(0).u16(0)            // TPM2B_SENSITIVE_CREATE {userAuth, data} both empty
                .tpm2b(publicTemplate)           // TPM2B_PUBLIC inPublic
                .u16(0)                          // outsideInfo
                .u32(0)                          // TPML_PCR_SELECTION creationPCR, count 0
                .build();
        return call(String.format(Locale.ROOT, "TPM2_CreatePrimary(0x%08x)", hierarchy), cmd).u32();
    }

    /** TPM2_EvictControl (Part 3 §28.5) under the owner hierarchy: persists {@code object} at {@code persistent}. */
    void evictControl(int object, int persistent) {
        byte[] cmd = new Command(TPM_ST_SESSIONS, CC_EVICT_CONTROL).u32(TPM_RH_OWNER).u32(object)
                .passwordSession().u32(persistent).build();
        call(String.format(Locale.ROOT, "TPM2_EvictControl(0x%08x -> 0x%08x)", object, persistent), cmd);
    }

    /** TPM2_FlushContext (Part 3 §28.4); the handle is a parameter, not a handle-area entry. */
    void flushContext(int handle) {
        byte[] cmd = new Command(TPM_ST_NO_SESSIONS, CC_FLUSH_CONTEXT).u32(handle).build();
        call(String.format(Locale.ROOT, "TPM2_FlushContext(0x%08x)", handle), cmd);
    }

    /**
     * TPM2_ReadPublic (Part 3 §12.4): the TPMT_PUBLIC of {@code handle}, or empty when the TPM answers
     * TPM_RC_HANDLE (no object there). Any other error throws.
     */
    Optional<byte[]> readPublic(int handle) {
        byte[] cmd = new Command(TPM_ST_NO_SESSIONS, CC_READ_PUBLIC).u32(handle).build();
        byte[] response = engine.execute(LOCALITY, cmd);
        int rc = Tpm2Marshal.responseCode(response);
        if (baseError(rc) == RC_HANDLE) {
            return Optional.empty();
        }
        String name = String.format(Locale.ROOT, "TPM2_ReadPublic(0x%08x)", handle);
        if (rc != 0) {
            throw new ManufactureException(name, rc);
        }
        return Optional.of(Reader.response(name, response).tpm2b());
    }

    /**
     * TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) (Part 3 §30.2) for {@code count} properties from
     * {@code first}; properties the TPM does not report are absent from the map.
     */
    Map<Integer, Integer> properties(int first, int count) {
        byte[] cmd = new Command(TPM_ST_NO_SESSIONS, CC_GET_CAPABILITY).u32(TPM_CAP_TPM_PROPERTIES).u32(first)
                .u32(count).build();
        Reader r = call(String.format(Locale.ROOT, "TPM2_GetCapability(properties 0x%x)", first), cmd);
        r.u8();  // moreData
        r.u32(); // capability
        int n = r.u32();
        Map<Integer, Integer> out = new HashMap<>();
        for (int i = 0; i < n; i++) {
            out.put(r.u32(), r.u32());
        }
        return out;
    }

    /**
     * TPM2_NV_DefineSpace (Part 3 §31.3) with empty auth and no policy: TPM2B_NV_PUBLIC is
     * {nvIndex, nameAlg SHA256, attributes, authPolicy empty, dataSize} (Part 2 §13.5).
     */
    void nvDefineSpace(int authHandle, int index, int attributes, int size) {
        byte[] pub = ByteBuffer.allocate(14).putInt(index).putShort((short) TPM_ALG_SHA256).putInt(attributes)
                .putShort((short) 0).putShort((short) size).array();
        byte[] cmd = new Command(TPM_ST_SESSIONS, CC_NV_DEFINE_SPACE).u32(authHandle).passwordSession()
                .tpm2b(new byte[0]).tpm2b(pub).build();
        call(String.format(Locale.ROOT, "TPM2_NV_DefineSpace(0x%08x, %d bytes)", index, size), cmd);
    }

    /** TPM2_NV_Write (Part 3 §31.5) of {@code data} at offset 0, in chunks of at most {@code chunk} bytes. */
    void nvWrite(int authHandle, int index, byte[] data, int chunk) {
        for (int off = 0; off < data.length; off += chunk) {
            int n = Math.min(chunk, data.length - off);
            byte[] part = java.util.Arrays.copyOfRange(data, off, off + n);
            byte[] cmd = new Command(TPM_ST_SESSIONS, CC_NV_WRITE).u32(authHandle).u32(index).passwordSession()
                    .tpm2b(part).u16(off).build();
            call(String.format(Locale.ROOT, "TPM2_NV_Write(0x%08x, offset %d, %d bytes)", index, off, n), cmd);
        }
    }

    /** TPM2_NV_WriteLock (Part 3 §31.7); with TPMA_NV_WRITEDEFINE the lock is permanent. */
    void nvWriteLock(int authHandle, int index) {
        byte[] cmd = new Command(TPM_ST_SESSIONS, CC_NV_WRITE_LOCK).u32(authHandle).u32(index).passwordSession()
                .build();
        call(String.format(Locale.ROOT, "TPM2_NV_WriteLock(0x%08x)", index), cmd);
    }

    /** The public area of an NV index (Part 3 §31.6 TPM2_NV_ReadPublic), or empty if not defined. */
    Optional<NvPublic> nvReadPublic(int index) {
        byte[] cmd = new Command(TPM_ST_NO_SESSIONS, CC_NV_READ_PUBLIC).u32(index).build();
        byte[] response = engine.execute(LOCALITY, cmd);
        int rc = Tpm2Marshal.responseCode(response);
        if (baseError(rc) == RC_HANDLE) {
            return Optional.empty();
        }
        String name = String.format(Locale.ROOT, "TPM2_NV_ReadPublic(0x%08x)", index);
        if (rc != 0) {
            throw new ManufactureException(name, rc);
        }
        Reader r = Reader.structure(name, Reader.response(name, response).tpm2b());
        return Optional.of(new NvPublic(r.u32(), r.u16(), r.u32(), r.tpm2b(), r.u16()));
    }

    /** TPM2_NV_Read (Part 3 §31.13) of the whole index, in chunks of at most {@code chunk} bytes. */
    byte[] nvRead(int authHandle, int index, int size, int chunk) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(size);
        for (int off = 0; off < size; off += chunk) {
            int n = Math.min(chunk, size - off);
            byte[] cmd = new Command(TPM_ST_SESSIONS, CC_NV_READ).u32(authHandle).u32(index).passwordSession()
                    .u16(n).u16(off).build();
            Reader r = call(String.format(Locale.ROOT, "TPM2_NV_Read(0x%08x, offset %d, %d bytes)", index, off, n),
                    cmd);
            r.u32(); // parameterSize (ST_SESSIONS response)
            out.writeBytes(r.tpm2b());
        }
        return out.toByteArray();
    }

    /** TPMS_NV_PUBLIC (Part 2 §13.5). */
    record NvPublic(int index, int nameAlg, int attributes, byte[] authPolicy, int dataSize) {
        /** TPMA_NV_WRITTEN (Part 2 §13.4): the index has been written at least once. */
        boolean written() {
            return (attributes & NvAttributes.WRITTEN) != 0;
        }
    }
}
