package org.vtpmback.etcd;

/**
 * No member answered a request in time (each was tried once). Whether a write sent before the failure was
 * applied is unknown: repeating the same commit is safe (see {@link PoolRecordStore#commit}).
 */
public final class EtcdUnavailableException extends EtcdStoreException {
    private static final long serialVersionUID = 1L;

    EtcdUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
