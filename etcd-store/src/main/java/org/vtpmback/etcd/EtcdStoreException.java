package org.vtpmback.etcd;

import java.io.IOException;

/** Root of what the etcd record store throws: the message says what failed, why, and what to do. */
public class EtcdStoreException extends IOException {
    private static final long serialVersionUID = 1L;

    EtcdStoreException(String message) {
        super(message);
    }

    EtcdStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
