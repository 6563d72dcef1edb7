package org.vtpmback.test.emulator;

import java.util.Optional;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * The frontend's xenbus helpers ({@code drivers/xen/xenbus/xenbus_client.c}) for one device node.
 * Keeps {@code dev->state}, the driver's own idea of its state, apart from what xenstore says.
 *
 * <p>Thread-safety: called from the emulator's xenbus thread; {@link #localState()} from any thread.
 */
final class XenbusNode {
    private final XenStore xs;
    private final XsPath node;
    private final XsPath errorNode;
    private volatile XenbusState localState = XenbusState.INITIALISING;

    /**
     * @param node      {@code /local/domain/<fe>/device/vtpm/<devid>}
     * @param errorNode {@code /local/domain/<fe>/error/device/vtpm/<devid>} (xenbus error_path)
     */
    XenbusNode(XenStore xs, XsPath node, XsPath errorNode) {
        this.xs = xs;
        this.node = node;
        this.errorNode = errorNode;
    }

    XsPath path() {
        return node;
    }

    /** dev->state: what the driver last switched to (INITIALISING until the first switch). */
    XenbusState localState() {
        return localState;
    }

    /** xenbus_dev_resume sets dev->state = Initialising locally, without writing xenstore. */
    void forgetState() {
        localState = XenbusState.INITIALISING;
    }

    /** A state node as xenbus_read_driver_state reads it: missing or garbage is UNKNOWN. */
    XenbusState readState(XsPath stateNode) {
        return xs.read(stateNode).flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
    }

    /**
     * __xenbus_switch_state: no write when {@code dev->state} already equals {@code state} (so no
     * watch fires for nothing); in a transaction, and never recreating a node the toolstack removed
     * ("don't resurrect": the state node must still exist).
     */
    void switchState(XenbusState state) {
        if (state == localState) {
            return;
        }
        XsPath stateNode = node.child("state");
        xs.inTransaction(t -> {
            Optional<String> current = t.read(stateNode);
            if (current.isPresent()) {
                t.write(stateNode, state.wire());
            }
            return null;
        });
        localState = state;
    }

    /** xenbus_dev_fatal: write {@code "<errno> <message>"} to the error node, then switch to Closing. */
    void devFatal(int errno, String message) {
        xs.write(errorNode.child("error"), errno + " " + message);
        switchState(XenbusState.CLOSING);
    }

    /** xenbus_read_unsigned(dir, key, 0): a missing or unparsable value is 0. */
    long readUnsigned(XsPath dir, String key) {
        Optional<String> value = xs.read(dir.child(key));
        try {
            return value.isPresent() ? Long.parseUnsignedLong(value.get().trim()) : 0;
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
