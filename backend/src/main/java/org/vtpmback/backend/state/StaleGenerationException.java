package org.vtpmback.backend.state;

import java.io.IOException;

/**
 * A save or import would not move a vTPM's generation forward: the record is not newer than what this
 * host has committed. Nothing was written.
 */
public final class StaleGenerationException extends IOException {
    private static final long serialVersionUID = 1L;

    StaleGenerationException(String message) {
        super(message);
    }
}
