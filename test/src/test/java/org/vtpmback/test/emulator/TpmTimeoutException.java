package org.vtpmback.test.emulator;

/**
 * The page did not become idle, or the command did not finish, in time: xen-tpmfront writes CANCEL,
 * notifies the backend and returns -ETIME.
 */
public class TpmTimeoutException extends TpmFrontendException {
    private static final long serialVersionUID = 1L;

    public TpmTimeoutException(String message) {
        super(message);
    }
}
