package org.vtpmback.xen;

/**
 * A Xen library call failed and set errno. The message names the C call, what it acted on (a
 * xenstore path, a domain, a port) and the errno name, e.g.
 * {@code xs_write(/local/domain/0/backend/vtpm/7/0/state) failed: EACCES (Permission denied)}.
 */
public class XenErrnoException extends XenException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final String subject;
    private final int errnoValue;

    public XenErrnoException(String call, String subject, int errnoValue) {
        super(call + "(" + subject + ") failed: " + Errno.describe(errnoValue));
        this.call = call;
        this.subject = subject;
        this.errnoValue = errnoValue;
    }

    public XenErrnoException(String call, String subject, Errno errno) {
        this(call, subject, errno.value());
    }

    /** The C function that failed, e.g. {@code xs_write}. */
    public String call() {
        return call;
    }

    /** What the call acted on: a path, {@code domid 7}, {@code port 12}. */
    public String subject() {
        return subject;
    }

    public Errno errno() {
        return Errno.of(errnoValue);
    }

    /** The raw errno number, kept even when {@link Errno} does not name it. */
    public int errnoValue() {
        return errnoValue;
    }
}
