package org.vtpmback.backend.ring;

import org.vtpmback.xen.XenException;

/**
 * The guest wrote something into the tpmif shared page that the backend refuses to act on. The
 * message names the offending field and its value, e.g. {@code length 5000 exceeds the 4088 bytes of
 * a single page}, so the operator log says what the guest did.
 *
 * <p>Unchecked like every {@link XenException}: the device layer catches it per request, answers or
 * ignores the guest and logs once; it never ends the daemon.
 */
public class MalformedRequestException extends XenException {
    private static final long serialVersionUID = 1L;

    public MalformedRequestException(String message) {
        super(message);
    }
}
