package org.vtpmback.test.emulator;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.XsPermission;

/**
 * Does to xenstore what libxl 4.17 does for a vtpm device (tools/libs/light/libxl_vtpm.c,
 * libxl_device.c; reference 2.6 and 3.1): one transaction writes the backend, frontend and /libxl
 * nodes with libxl's permissions, then it waits up to {@link #LIBXL_INIT_TIMEOUT} for the backend
 * state to be exactly InitWait; removal writes online = 0 and state = 5 and waits up to
 * {@link #LIBXL_DESTROY_TIMEOUT} for Closed before deleting the nodes.
 */
public final class ToolstackEmulator {
    public static final Duration LIBXL_INIT_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration LIBXL_DESTROY_TIMEOUT = Duration.ofSeconds(10);

    private final XenStore store;
    private final int backendDomid;

    public ToolstackEmulator(XenStore store, int backendDomid) {
        this.store = store;
        this.backendDomid = backendDomid;
    }

    public XsPath backendPath(int domid, int devid) {
        return XsPath.of("/local/domain/" + backendDomid).child("backend").child("vtpm").child(domid).child(devid);
    }

    public XsPath frontendPath(int domid, int devid) {
        return XsPath.of("/local/domain/" + domid).child("device").child("vtpm").child(devid);
    }

    private static XsPath libxlPath(int domid, int devid) {
        return XsPath.of("/libxl/" + domid).child("device").child("vtpm").child(devid);
    }

    /** The guest's home, owned by the guest, as libxl creates it before adding devices. */
    public void createDomain(int domid) {
        XsPath home = XsPath.of("/local/domain/" + domid);
        store.inTransaction(t -> {
            t.mkdir(home);
            t.setPermissions(home, List.of(XsPermission.owner(domid), XsPermission.read(backendDomid)));
            t.write(home.child("name"), "guest" + domid);
            t.write(home.child("domid"), Integer.toString(domid));
            return null;
        });
    }

    /**
     * {@code libxl__device_add} for a vtpm: adds the device in one transaction and waits for the
     * backend to reach exactly InitWait, failing like libxl ("unable to add device") if it does not
     * within 10 s.
     *
     * @return how long the backend took to reach InitWait
     */
    public Duration addVtpm(int domid, int devid, String uuid) throws InterruptedException {
        return addVtpmTimed(domid, devid, uuid).total();
    }

    /**
     * The two halves of a device add: the toolstack's own (the watch on the backend state armed and the one
     * transaction committed, EAGAIN retries included) and the backend's reaction (commit to InitWait); and how
     * many times the transaction was started (1 unless xenstored answered EAGAIN: a concurrent one changed a node
     * it touched, such as {@code backend/vtpm}, whose children every new domain's device adds to).
     */
    public record DeviceAddTimes(Duration commit, Duration toInitWait, int attempts) {
        public Duration total() {
            return commit.plus(toInitWait);
        }
    }

    /** {@link #addVtpm}, with its time split between the toolstack's commit and the backend's reaction. */
    public DeviceAddTimes addVtpmTimed(int domid, int devid, String uuid) throws InterruptedException {
        XsPath be = backendPath(domid, devid);
        long start = System.nanoTime();
        try (NodeWatcher waiter = new NodeWatcher(store, be.child("state"))) {
            int attempts = writeDevice(domid, devid, uuid);
            long committed = System.nanoTime();
            if (!waiter.await(XenbusState.INIT_WAIT, LIBXL_INIT_TIMEOUT)) {
                throw new ToolstackException("unable to add device with path " + be + ": backend state is "
                        + store.read(be.child("state")).orElse("absent") + ", not 2, after " + LIBXL_INIT_TIMEOUT.toSeconds() + " s");
            }
            return new DeviceAddTimes(Duration.ofNanos(committed - start), Duration.ofNanos(System.nanoTime() - committed), attempts);
        }
    }

    /**
     * The one transaction of {@code libxl__device_add} for a vtpm: backend, frontend and /libxl nodes
     * with libxl's keys and permissions, both sides in state 1. Does not wait for the backend.
     *
     * @return how many times the transaction was started
     */
    public int writeDevice(int domid, int devid, String uuid) {
        int[] attempts = {0};
        store.inTransaction(t -> {
            attempts[0]++;
            if (t.read(backendPath(domid, devid).child("state")).isPresent()) {
                throw new IllegalStateException("device " + backendPath(domid, devid) + " already exists"); // libxl refuses too
            }
            writeDevice(t, domid, devid, uuid);
            return null;
        });
        return attempts[0];
    }

    /**
     * A detach and an attach of another vTPM at the same path in one transaction: what a backend whose
     * watch events coalesce sees when a toolstack detaches and re-attaches quickly (the device directory
     * never seems to go away, only its uuid changes). Does not wait for the backend.
     */
    public void replaceDevice(int domid, int devid, String uuid) {
        store.inTransaction(t -> {
            t.rm(frontendPath(domid, devid));
            t.rm(libxlPath(domid, devid));
            t.rm(backendPath(domid, devid));
            writeDevice(t, domid, devid, uuid);
            return null;
        });
    }

    private void writeDevice(org.vtpmback.xenstore.Transaction t, int domid, int devid, String uuid) {
        XsPath be = backendPath(domid, devid);
        XsPath fe = frontendPath(domid, devid);
        XsPath lx = libxlPath(domid, devid);
        {
            t.write(be.child("frontend"), fe.value());
            t.write(be.child("frontend-id"), Integer.toString(domid));
            t.write(be.child("online"), "1");
            t.write(be.child("state"), XenbusState.INITIALISING.wire());
            t.write(be.child("handle"), Integer.toString(devid));
            t.write(be.child("uuid"), uuid);
            t.write(be.child("resume"), "False"); // libxl 4.17 hard-codes it
            t.setPermissions(be, List.of(XsPermission.owner(backendDomid), XsPermission.read(domid)));
            t.write(fe.child("backend"), be.value());
            t.write(fe.child("backend-id"), Integer.toString(backendDomid));
            t.write(fe.child("state"), XenbusState.INITIALISING.wire());
            t.write(fe.child("handle"), Integer.toString(devid));
            t.setPermissions(fe, List.of(XsPermission.owner(domid), XsPermission.read(backendDomid)));
            t.write(lx.child("frontend"), fe.value());
            t.write(lx.child("backend"), be.value());
            t.write(lx.child("uuid"), uuid);
        }
    }

    /** What libxl writes for a restore with vtpmback's documented restore path: resume = True. */
    public void setResume(int domid, int devid, boolean resume) {
        store.write(backendPath(domid, devid).child("resume"), resume ? "True" : "False");
    }

    /** The first step of a removal without waiting: online = 0 and state = 5 in one transaction. */
    public void startRemoval(int domid, int devid) {
        XsPath be = backendPath(domid, devid);
        store.inTransaction(t -> {
            t.write(be.child("online"), "0");
            t.write(be.child("state"), XenbusState.CLOSING.wire());
            return null;
        });
    }

    /**
     * {@code libxl__initiate_device_generic_remove} and {@code libxl__device_destroy}: online = 0 and
     * state = 5 in one transaction (unless already Closed), wait up to 10 s for Closed, then delete the
     * nodes whatever happened. With {@code force} (domain destroy) the frontend directory goes first.
     *
     * @return true if the backend reached Closed in time (libxl logs "unable to remove device" otherwise)
     */
    public boolean removeVtpm(int domid, int devid, boolean force) throws InterruptedException {
        XsPath be = backendPath(domid, devid);
        boolean closed;
        try (NodeWatcher waiter = new NodeWatcher(store, be.child("state"))) {
            store.inTransaction(t -> {
                if (force) {
                    t.rm(frontendPath(domid, devid));
                }
                if (t.read(be.child("state")).isPresent()) {
                    t.write(be.child("online"), "0");
                    if (!t.read(be.child("state")).equals(Optional.of(XenbusState.CLOSED.wire()))) {
                        t.write(be.child("state"), XenbusState.CLOSING.wire());
                    }
                }
                return null;
            });
            closed = waiter.await(XenbusState.CLOSED, LIBXL_DESTROY_TIMEOUT);
        }
        store.inTransaction(t -> {
            t.rm(frontendPath(domid, devid));
            t.rm(libxlPath(domid, devid));
            t.rm(be);
            return null;
        });
        return closed;
    }

    /** Domain destroy: devices removed with force, then the domain's paths. */
    public boolean destroyDomain(int domid, int... devids) throws InterruptedException {
        boolean allClosed = true;
        for (int devid : devids) {
            allClosed &= removeVtpm(domid, devid, true);
        }
        store.rm(XsPath.of("/local/domain/" + domid));
        store.rm(XsPath.of("/libxl/" + domid));
        store.rm(backendPath(domid, 0).parent());
        return allClosed;
    }

    public Optional<XenbusState> backendState(int domid, int devid) {
        return store.read(backendPath(domid, devid).child("state")).flatMap(XenbusState::parse);
    }
}
