package org.vtpmback.backend.manufacture;

/** TPMA_NV bits (TPM 2.0 Library Part 2 §13.4) used by manufacturing and its checks. */
final class NvAttributes {
    static final int PPWRITE = 0x00000001;
    static final int WRITELOCKED = 0x00000800;
    static final int WRITEDEFINE = 0x00002000;
    static final int PPREAD = 0x00010000;
    static final int OWNERREAD = 0x00020000;
    static final int AUTHREAD = 0x00040000;
    static final int NO_DA = 0x02000000;
    static final int WRITTEN = 0x20000000;
    static final int PLATFORMCREATE = 0x40000000;

    /**
     * What swtpm_setup 0.7.1 gives its EK certificate index (src/swtpm_setup/swtpm.c
     * {@code swtpm_tpm2_write_ek_cert_nvram}; seen on a real swtpm_setup state as 0x62072801 after
     * write and lock): written only by the platform (PPWRITE, PLATFORMCREATE: the owner cannot delete
     * it with NV_UndefineSpace), readable by the platform, the owner and with the index's own (empty)
     * auth, so {@code tpm2_nvread 0x1c00002} works with or without {@code -C o}; NO_DA so reads with a
     * wrong password never count toward lockout; WRITEDEFINE so NV_WriteLock is permanent.
     * This is also what the TCG EK Credential Profile 2.0 §2.2.1.5 and the PC Client Platform TPM
     * Profile ask of EK certificate indices.
     */
    static final int EK_CERT = PLATFORMCREATE | AUTHREAD | OWNERREAD | PPREAD | PPWRITE | NO_DA | WRITEDEFINE;

    private NvAttributes() {
    }
}
