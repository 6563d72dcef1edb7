package org.vtpmback.test.emulator;

import java.io.IOException;

/**
 * A TPM command failed in the emulated guest driver, as {@code /dev/tpm0} would fail a write or
 * read. Subclasses name the errno xen-tpmfront or the TPM core would return.
 */
public class TpmFrontendException extends IOException {
    private static final long serialVersionUID = 1L;

    public TpmFrontendException(String message) {
        super(message);
    }
}
