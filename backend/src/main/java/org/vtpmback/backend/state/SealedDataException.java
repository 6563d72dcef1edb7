package org.vtpmback.backend.state;

/** Sealed state failed to open: tampered, truncated, wrong key or not ours. */
public class SealedDataException extends Exception {
    private static final long serialVersionUID = 1L;

    public SealedDataException(String message) {
        super(message);
    }
}
