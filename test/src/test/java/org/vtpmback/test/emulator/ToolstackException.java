package org.vtpmback.test.emulator;

/** The emulated toolstack gave up, as libxl would (e.g. "unable to add device"). */
public class ToolstackException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ToolstackException(String message) {
        super(message);
    }
}
