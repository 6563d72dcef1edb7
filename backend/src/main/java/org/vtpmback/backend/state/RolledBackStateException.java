package org.vtpmback.backend.state;

import java.nio.file.Path;

/**
 * A stored record is authentic but older than what this host has committed for its vTPM: the file was
 * rolled back (an older copy put back) or replayed (a consumed snapshot put back), or the vTPM was
 * deleted and a copy of it put back. Starting it would turn the TPM's monotonic counters, NV and
 * dictionary-attack lockout back, so it is refused; nothing is changed.
 */
public final class RolledBackStateException extends CorruptStateException {
    private static final long serialVersionUID = 1L;

    private final long storedGeneration;
    private final long anchoredGeneration;

    RolledBackStateException(Uuid uuid, Path file, long storedGeneration, long anchoredGeneration, boolean retired, Path anchor) {
        super("stored state of vTPM " + uuid + " (" + file + ") is generation " + storedGeneration + ", but this host "
                + (retired ? "deleted the vTPM at generation " + anchoredGeneration
                        : "has committed generation " + anchoredGeneration + " of it")
                + " (generation anchor " + anchor + "): the file was rolled back or replayed (an older copy put back);"
                + " refusing to start it, nothing was changed (put the current file back, or import a current export"
                + " with vtpmback import --replace; an older one needs --allow-rollback)");
        this.storedGeneration = storedGeneration;
        this.anchoredGeneration = anchoredGeneration;
    }

    /** The generation of the record found. */
    public long storedGeneration() {
        return storedGeneration;
    }

    /** The generation this host's anchor holds for the vTPM. */
    public long anchoredGeneration() {
        return anchoredGeneration;
    }
}
