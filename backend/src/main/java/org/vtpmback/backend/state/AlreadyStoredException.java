package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A new vTPM was to be stored under a uuid the store already holds (made meanwhile by a daemon's first start,
 * {@code vtpmback create} or {@code import}). Nothing was written: one TPM never silently replaces another.
 */
public final class AlreadyStoredException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    public AlreadyStoredException(Uuid uuid, Path file) {
        super("vTPM " + uuid + " is already stored (" + file + ")");
        this.file = file;
    }

    /** The stored vTPM's file. */
    public Path file() {
        return file;
    }
}
