package org.vtpmback.backend.engine;

import java.util.Locale;

/**
 * A TPM engine operation failed: swtpm refused a control command, died, or could not be started.
 * Unchecked, like {@code XenException}: the device layer decides whether to restart the engine or
 * fail the device. {@link TpmEngine#execute} never throws it for a dead swtpm (the guest gets a TPM
 * error response instead), only for a request the backend itself refuses.
 */
public class EngineException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The TPM result code swtpm answered with, or -1 when the failure was not a result code. */
    private final int resultCode;

    /** A failure that is not a swtpm result code; the message names the instance. */
    public EngineException(String message) {
        super(message);
        this.resultCode = -1;
    }

    /** As {@link #EngineException(String)}, caused by {@code cause} (typically the broken socket). */
    public EngineException(String message, Throwable cause) {
        super(message, cause);
        this.resultCode = -1;
    }

    /** swtpm answered {@code command} with the non-zero TPM result {@code resultCode}. */
    public EngineException(String instance, String command, int resultCode) {
        super(String.format(Locale.ROOT, "swtpm[%s] %s failed: TPM result 0x%x", instance, command, resultCode));
        this.resultCode = resultCode;
    }

    /** The TPM result code (TPM 1.2 numbering, as the ctrl channel uses it), or -1. */
    public int resultCode() {
        return resultCode;
    }
}
