package org.vtpmback.backend.device;

/** The guest wrote something into its frontend directory that the protocol does not allow. */
public class MalformedFrontendException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public MalformedFrontendException(String message) {
        super(message);
    }
}
