package org.vtpmback.backend.device;

import java.util.Locale;
import java.util.Optional;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * The xenstore side of one device: its backend directory (ours, written by libxl and us) and the
 * frontend directory (the guest's: everything read from it is hostile and parsed strictly).
 */
final class DeviceNodes {
    private final XenStore store;
    private final DeviceId id;
    private final XsPath backend;
    private final XsPath expectedFrontend;
    private final XsPath errorNode;

    DeviceNodes(XenStore store, int backendDomid, DeviceId id) {
        this.store = store;
        this.id = id;
        XsPath ownHome = XsPath.of("/local/domain/" + backendDomid);
        this.backend = ownHome.child("backend").child("vtpm").child(id.frontendDomid()).child(id.devid());
        this.expectedFrontend = XsPath.of("/local/domain/" + id.frontendDomid()).child("device").child("vtpm").child(id.devid());
        // xenbus_dev_fatal's convention: error/<nodename>/error under the writer's home.
        this.errorNode = ownHome.child("error").child("backend").child("vtpm").child(id.frontendDomid())
                .child(id.devid()).child("error");
    }

    XsPath backend() {
        return backend;
    }

    XsPath frontendState() {
        return expectedFrontend.child(VtpmKeys.STATE);
    }

    boolean backendExists() {
        return store.read(backend.child(VtpmKeys.STATE)).isPresent() || !store.list(backend).isEmpty();
    }

    /**
     * What one look at a device finds, each node read once: a watch event costs these round trips and no more
     * (the backend's state node tells both whether the directory is there and our state).
     */
    record Look(boolean backendExists, XenbusState ours, XenbusState theirs, boolean online) {
    }

    Look look() {
        Optional<String> state = store.read(backend.child(VtpmKeys.STATE));
        if (state.isEmpty() && store.list(backend).isEmpty()) {
            return new Look(false, XenbusState.UNKNOWN, XenbusState.UNKNOWN, false);
        }
        XenbusState ours = state.flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
        return new Look(true, ours, theirState(), online());
    }

    /** Our state node; UNKNOWN when absent or not a state. */
    XenbusState ourState() {
        return store.read(backend.child(VtpmKeys.STATE)).flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
    }

    /** The guest's state node; UNKNOWN when absent or malformed (Linux reads it the same way). */
    XenbusState theirState() {
        return store.read(frontendState()).flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
    }

    boolean online() {
        return store.read(backend.child(VtpmKeys.ONLINE)).map("1"::equals).orElse(false);
    }

    Optional<String> backendKey(String key) {
        return store.read(backend.child(key));
    }

    /** A yes/no backend key: xend wrote "True"/"False"; the obvious spellings of true, nothing else. */
    boolean backendFlag(String key) {
        return backendKey(key).map(v -> v.trim().toLowerCase(Locale.ROOT)).map(v -> v.equals("true") || v.equals("1")).orElse(false);
    }

    /**
     * The frontend path libxl wrote must be the one this device id implies: following any other
     * would let a confused toolstack entry point us at a different guest's directory.
     */
    void checkFrontendPath() {
        Optional<String> written = backendKey(VtpmKeys.FRONTEND);
        if (written.isPresent() && !written.get().equals(expectedFrontend.value())) {
            throw new GuestProtocolException("backend key frontend is '" + written.get()
                    + "', expected " + expectedFrontend + " for " + id);
        }
    }

    FrontendRing readRing() {
        return store.inTransaction(t -> FrontendRing.parse(
                t.read(expectedFrontend.child(VtpmKeys.RING_REF)),
                t.read(expectedFrontend.child(VtpmKeys.EVENT_CHANNEL)),
                t.read(expectedFrontend.child(VtpmKeys.FEATURE_PROTOCOL_V2))));
    }

    /** Advertises the v2 page protocol; Linux refuses a backend without it (reference 2.4). */
    void advertiseFeatures() {
        writeIfPresent(VtpmKeys.FEATURE_PROTOCOL_V2, "1");
    }

    /**
     * Writes our state unless it is already {@code to} (no pointless watch events) or the backend
     * directory is gone (never resurrect a node the toolstack removed). Returns whether it wrote.
     */
    boolean switchState(XenbusState to) {
        return store.inTransaction(t -> {
            Optional<XenbusState> now = t.read(backend.child(VtpmKeys.STATE)).map(s -> XenbusState.parse(s).orElse(XenbusState.UNKNOWN));
            if (now.isEmpty() || now.get() == to) {
                return false;
            }
            t.write(backend.child(VtpmKeys.STATE), to.wire());
            return true;
        });
    }

    /**
     * The connect's nodes and the switch to Connected in one transaction: the frontend, which acts on the state
     * change, finds {@code ready}, the features and a consumed {@code resume} with it, and the connect costs one
     * transaction's round trips instead of one per node. On a first connect the nodes are written as they are: the
     * state's write fires our own backend watch anyway and the events of one commit coalesce into one look. On a
     * re-attach (already Connected) only what differs is written, so a daemon restart under many guests fires no
     * watch events. The last error report goes in the same commit (its removal when absent commits on both
     * xenstoreds). Returns whether the state was written; nothing is written when the backend directory is gone.
     *
     * @param consumeResume the restore signal was used: set {@code resume} to False, as xend's _endRestore did
     */
    boolean switchToConnected(boolean consumeResume) {
        return store.inTransaction(t -> {
            Optional<XenbusState> now = t.read(backend.child(VtpmKeys.STATE)).map(s -> XenbusState.parse(s).orElse(XenbusState.UNKNOWN));
            if (now.isEmpty()) {
                return false;
            }
            boolean reattach = now.get() == XenbusState.CONNECTED;
            if (consumeResume) {
                t.write(backend.child(VtpmKeys.RESUME), "False");
            }
            for (String key : new String[] {VtpmKeys.FEATURE_PROTOCOL_V2, VtpmKeys.READY}) {
                if (!reattach || !t.read(backend.child(key)).equals(Optional.of("1"))) {
                    t.write(backend.child(key), "1");
                }
            }
            t.rm(errorNode.parent());
            if (!reattach) {
                t.write(backend.child(VtpmKeys.STATE), XenbusState.CONNECTED.wire());
            }
            return !reattach;
        });
    }

    void writeIfPresent(String key, String value) {
        store.inTransaction(t -> {
            if (t.read(backend.child(VtpmKeys.STATE)).isPresent() && !t.read(backend.child(key)).equals(Optional.of(value))) {
                t.write(backend.child(key), value);
            }
            return null;
        });
    }

    /** Records a fatal device error where xenbus tools look for it: "<errno> <message>". */
    void writeError(String message) {
        store.write(errorNode, "22 " + message); // EINVAL: what xenbus_dev_fatal callers pass for bad input
    }
}
