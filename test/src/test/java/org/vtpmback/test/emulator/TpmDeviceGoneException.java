package org.vtpmback.test.emulator;

/**
 * The emulated TPM chip is not registered (never probed, unregistered because the backend went
 * Closing/Closed, or closed): like -ENODEV from a TPM whose chip was removed. Thrown at once, also
 * to a command that was waiting when the device went away.
 */
public class TpmDeviceGoneException extends TpmFrontendException {
    private static final long serialVersionUID = 1L;

    public TpmDeviceGoneException(String message) {
        super(message);
    }
}
