package org.vtpmback.backend.state;

import java.nio.file.Path;

/** A stored vTPM cannot be used; the instance must not start, and must not be re-manufactured. */
public class CorruptStateException extends Exception {
    private static final long serialVersionUID = 1L;

    public CorruptStateException(Uuid uuid, Path file, String problem) {
        this(uuid, file.toString(), problem);
    }

    /** @param source where the record was read: a file, an etcd key */
    public CorruptStateException(Uuid uuid, String source, String problem) {
        super("stored state of vTPM " + uuid + " (" + source + ") " + problem
                + "; refusing to start it (restore the file from a backup or an export, or delete the instance)");
    }

    /** A refusal whose message says itself what is wrong and what to do. */
    protected CorruptStateException(String message) {
        super(message);
    }
}
