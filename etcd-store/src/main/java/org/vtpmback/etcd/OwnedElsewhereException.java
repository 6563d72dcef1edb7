package org.vtpmback.etcd;

import org.vtpmback.backend.state.Uuid;

/** Another host owns the vTPM: this host must not run it. Nothing was written. */
public final class OwnedElsewhereException extends EtcdStoreException {
    private static final long serialVersionUID = 1L;

    private final transient Uuid uuid;
    private final transient HostId owner;

    OwnedElsewhereException(Uuid uuid, HostId host, HostId owner) {
        super("vTPM " + uuid + " is owned by host " + owner + ", so host " + host + " may not run it"
                + " (it becomes free when " + owner + " releases it or its lease expires)");
        this.uuid = uuid;
        this.owner = owner;
    }

    public Uuid uuid() {
        return uuid;
    }

    /** The host that owns it. */
    public HostId owner() {
        return owner;
    }
}
