package org.vtpmback.test.emulator;

import java.util.UUID;
import org.vtpmback.backend.device.VtpmKeys;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * What libxl 4.17 writes for a vtpm device (libxl__device_generic_add, libxl_vtpm.c), for tests:
 * enough nodes for the frontend emulator and a backend to find each other. Permissions are left at
 * dom0's defaults: guest permissions are tested elsewhere.
 */
final class Toolstack {
    private Toolstack() {
    }

    static XsPath frontendPath(int feDomid, int devid) {
        return XsPath.of("/local/domain").child(feDomid).child("device").child("vtpm").child(devid);
    }

    static XsPath backendPath(int beDomid, int feDomid, int devid) {
        return XsPath.of("/local/domain").child(beDomid).child("backend").child("vtpm").child(feDomid).child(devid);
    }

    /** Device creation: backend and frontend directories in one transaction, both in state 1. */
    static void addDevice(XenStore xs, int beDomid, int feDomid, int devid) {
        XsPath fe = frontendPath(feDomid, devid);
        XsPath be = backendPath(beDomid, feDomid, devid);
        xs.inTransaction(t -> {
            t.write(fe.child(VtpmKeys.BACKEND), be.value());
            t.write(fe.child(VtpmKeys.BACKEND_ID), Integer.toString(beDomid));
            t.write(fe.child(VtpmKeys.STATE), XenbusState.INITIALISING.wire());
            t.write(fe.child(VtpmKeys.HANDLE), Integer.toString(devid));
            t.write(be.child(VtpmKeys.FRONTEND), fe.value());
            t.write(be.child(VtpmKeys.FRONTEND_ID), Integer.toString(feDomid));
            t.write(be.child(VtpmKeys.ONLINE), "1");
            t.write(be.child(VtpmKeys.STATE), XenbusState.INITIALISING.wire());
            t.write(be.child(VtpmKeys.HANDLE), Integer.toString(devid));
            t.write(be.child(VtpmKeys.UUID), UUID.randomUUID().toString());
            t.write(be.child(VtpmKeys.RESUME), "False");
            return null;
        });
    }

    /** xl vtpm-detach / domain destroy: backend online=0 and state Closing in one transaction. */
    static void detach(XenStore xs, int beDomid, int feDomid, int devid) {
        XsPath be = backendPath(beDomid, feDomid, devid);
        xs.inTransaction(t -> {
            t.write(be.child(VtpmKeys.ONLINE), "0");
            t.write(be.child(VtpmKeys.STATE), XenbusState.CLOSING.wire());
            return null;
        });
    }
}
