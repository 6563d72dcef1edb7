package org.vtpmback.backend.manufacture;

import java.util.Locale;

/**
 * Manufacturing a vTPM, or loading/using the local EK CA, failed. Unchecked, like the engine's
 * {@code EngineException}: the device layer fails the device (it must never retry by silently
 * re-manufacturing, see xen-vtpm-protocol.md pitfall 1). When a TPM command failed the message names
 * the command and its response code in hex, and {@link #responseCode()} returns it.
 */
public class ManufactureException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int responseCode;

    /** A failure that is not a TPM response code (I/O, crypto, malformed data). */
    public ManufactureException(String message) {
        super(message);
        this.responseCode = -1;
    }

    /** As {@link #ManufactureException(String)}, caused by {@code cause}. */
    public ManufactureException(String message, Throwable cause) {
        super(message, cause);
        this.responseCode = -1;
    }

    /** The TPM answered {@code command} with the non-zero response code {@code responseCode}. */
    public ManufactureException(String command, int responseCode) {
        super(String.format(Locale.ROOT, "%s failed: TPM response code 0x%x", command, responseCode));
        this.responseCode = responseCode;
    }

    /** The TPM response code that caused the failure, or -1 when the failure was not one. */
    public int responseCode() {
        return responseCode;
    }
}
