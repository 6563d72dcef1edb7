package org.vtpmback.xen;

/**
 * Root of every failure reported by the Xen bindings. Unchecked on purpose: a device daemon lets a
 * failing Xen call end the operation on that device, and the device layer decides what to tell the
 * guest and the operator.
 */
public class XenException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public XenException(String message) {
        super(message);
    }

    public XenException(String message, Throwable cause) {
        super(message, cause);
    }
}
