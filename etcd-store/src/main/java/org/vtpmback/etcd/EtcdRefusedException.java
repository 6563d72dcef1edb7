package org.vtpmback.etcd;

/** etcd answered, and refused the request itself (not a member failure): asking another member would not help. */
public final class EtcdRefusedException extends EtcdStoreException {
    private static final long serialVersionUID = 1L;
    /** gRPC NOT_FOUND, e.g. "etcdserver: requested lease not found". */
    static final long NOT_FOUND = 5;

    private final long grpcCode;

    EtcdRefusedException(String message, long grpcCode) {
        super(message);
        this.grpcCode = grpcCode;
    }

    /** The gRPC status code etcd gave (-1 if none). */
    public long grpcCode() {
        return grpcCode;
    }
}
