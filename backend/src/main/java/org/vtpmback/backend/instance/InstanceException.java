package org.vtpmback.backend.instance;

/** A vTPM instance cannot be started or saved; the message names the uuid, the domain and why. */
public class InstanceException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InstanceException(String message) {
        super(message);
    }

    public InstanceException(String message, Throwable cause) {
        super(message, cause);
    }
}
