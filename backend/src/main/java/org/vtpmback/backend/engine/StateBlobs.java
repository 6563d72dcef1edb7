package org.vtpmback.backend.engine;

import java.util.Optional;

/**
 * Plaintext swtpm state, as {@code CMD_GET_STATEBLOB} with {@code PTM_STATE_FLAG_DECRYPTED} returns it.
 * {@code permanent} is the NV state (seeds, NV indices, persistent keys); {@code volatileState}, when
 * present, is the running TPM (PCRs, loaded objects, sessions), and restoring it resumes the TPM
 * without a Startup. Without it, a restore has reboot semantics. The arrays are not copied: treat
 * them as read-only and as secret (they hold the TPM's seeds).
 */
public record StateBlobs(byte[] permanent, Optional<byte[]> volatileState) {
    public StateBlobs {
        if (permanent == null || volatileState == null) {
            throw new IllegalArgumentException("permanent and volatileState must not be null");
        }
    }
}
