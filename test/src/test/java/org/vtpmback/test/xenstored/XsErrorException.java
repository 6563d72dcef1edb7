package org.vtpmback.test.xenstored;

/** The daemon answered XS_ERROR; {@link #errnoName()} is its errno name, e.g. {@code "EACCES"}. */
public final class XsErrorException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String errnoName;
    private final int requestType;

    public XsErrorException(String errnoName, int requestType, String detail) {
        super(errnoName + " from xenstored for request type " + requestType + (detail.isEmpty() ? "" : " (" + detail + ")"));
        this.errnoName = errnoName;
        this.requestType = requestType;
    }

    public String errnoName() {
        return errnoName;
    }

    public int requestType() {
        return requestType;
    }
}
