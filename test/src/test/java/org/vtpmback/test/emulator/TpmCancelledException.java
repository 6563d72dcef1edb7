package org.vtpmback.test.emulator;

/**
 * The backend answered IDLE instead of FINISH: xen-tpmfront reports -ECANCELED ("Operation
 * Canceled" in the TPM core). The backend does that when it acknowledges a CANCEL with no command
 * running.
 */
public class TpmCancelledException extends TpmFrontendException {
    private static final long serialVersionUID = 1L;

    public TpmCancelledException(String message) {
        super(message);
    }
}
