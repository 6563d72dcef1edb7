package org.vtpmback.backend.engine;

import org.vtpmback.backend.ring.TpmResponses;

/**
 * The TPM family an engine emulates, with the few raw commands and answers the backend itself has to
 * produce for it. Immutable; the byte arrays are copied on every call.
 */
public enum TpmFamily {
    /** TPM 2.0 ({@code swtpm --tpm2}); state files {@code tpm2-00.*}. */
    TPM2("tpm2-00",
            hex("80010000000c000001440000"),    // TPM2_Startup(SU_CLEAR)
            hex("80010000000c000001450000")),   // TPM2_Shutdown(SU_CLEAR)
    /** TPM 1.2 (swtpm's default); state files {@code tpm-00.*}. */
    TPM12("tpm-00",
            hex("00c10000000c000000990001"),    // TPM_Startup(TPM_ST_CLEAR)
            hex("00c10000000a00000098"));       // TPM_SaveState

    private final String statePrefix;
    private final byte[] startupClear;
    private final byte[] orderlyShutdown;

    TpmFamily(String statePrefix, byte[] startupClear, byte[] orderlyShutdown) {
        this.statePrefix = statePrefix;
        this.startupClear = startupClear;
        this.orderlyShutdown = orderlyShutdown;
    }

    /** The raw Startup(CLEAR) command the guest firmware would send after a reset. */
    public byte[] startupClearCommand() {
        return startupClear.clone();
    }

    /**
     * The raw command that makes the next {@code _TPM_Init} orderly: TPM2_Shutdown(CLEAR), or
     * TPM_SaveState for 1.2 (TPM 1.2 has no TPM_Shutdown; SaveState is its orderly-shutdown marker).
     */
    public byte[] orderlyShutdownCommand() {
        return orderlyShutdown.clone();
    }

    /**
     * A well-formed 10-byte error response (TPM_RC_FAILURE 0x101 for TPM 2, TPM_FAIL 0x09 for 1.2), which
     * the engine hands to the guest when swtpm cannot answer: the guest's driver handles a TPM error,
     * whereas a missing answer would hang it.
     */
    public byte[] failureResponse() {
        return TpmResponses.failure(this == TPM2);
    }

    /**
     * Name of swtpm's permanent-state file in the state dir: swtpm rewrites it whenever the permanent
     * state changes (NV, keys, dictionary-attack counters).
     */
    String permanentStateFile() {
        return statePrefix + ".permall";
    }

    /** Name of swtpm's volatile-state file in the state dir (swtpm.md trap 7). */
    String volatileStateFile() {
        return statePrefix + ".volatilestate";
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
