package org.vtpmback.xenstore;

import org.vtpmback.xen.XenException;

/** A transaction kept failing with EAGAIN (other writers won every time) and the retry budget ran out. */
public class TransactionConflictException extends XenException {
    private static final long serialVersionUID = 1L;

    public TransactionConflictException(int attempts) {
        super("xenstore transaction still conflicting (EAGAIN) after " + attempts + " attempts");
    }
}
