package org.vtpmback.backend.state;

import java.io.IOException;

/**
 * Another host has taken this vTPM over (or this host lost its right to it): nothing was written, and this host
 * must never write the vTPM again. The message names the vTPM, this host, the current owner and the reason.
 */
public class FencedStateException extends IOException {
    private static final long serialVersionUID = 1L;

    public FencedStateException(String message, Throwable cause) {
        super(message, cause);
    }
}
