package org.vtpmback.backend.device;

import static org.vtpmback.xenstore.XenbusState.CLOSED;
import static org.vtpmback.xenstore.XenbusState.CLOSING;
import static org.vtpmback.xenstore.XenbusState.CONNECTED;
import static org.vtpmback.xenstore.XenbusState.INIT_WAIT;

import org.vtpmback.xenstore.XenbusState;

/**
 * The backend side of the xenbus handshake as a pure function of what xenstore says now. Watches are
 * level-triggered, so the device re-reads everything on every event and asks this function again; a
 * decision never depends on which event arrived. Behaviour follows Linux blkback's frontend_changed
 * and mini-os tpmback, with the vTPM specifics of reference section 2.
 */
public final class XenbusStateMachine {
    private XenbusStateMachine() {
    }

    /**
     * @param ours     the backend's {@code state} node (libxl writes 1 at creation and 5 at removal)
     * @param theirs   the frontend's {@code state} node, UNKNOWN when absent or malformed
     * @param online   the backend's {@code online} key is "1"
     * @param attached this process holds the page, the port and the engine for the device
     */
    public static XenbusStep step(XenbusState ours, XenbusState theirs, boolean online, boolean attached) {
        // Removal (libxl writes online=0 and state=5 together) or a frontend that vanished: tear down
        // and report Closed, which libxl waits for (10 s) before deleting the nodes.
        if (!online || theirs == XenbusState.UNKNOWN) {
            return attached || ours != CLOSED ? new XenbusStep.Disconnect(CLOSED) : XenbusStep.STAY;
        }
        return switch (theirs) {
            case INITIALISING, INIT_WAIT -> frontendStarting(ours, attached);
            case INITIALISED, CONNECTED -> frontendReady(ours, attached);
            case CLOSING -> attached ? new XenbusStep.Disconnect(CLOSING) : switchUnlessClosing(ours);
            case CLOSED -> attached || ours != CLOSED ? new XenbusStep.Disconnect(CLOSED) : XenbusStep.STAY;
            default -> XenbusStep.STAY; // Reconfiguring/Reconfigured mean nothing for vtpm
        };
    }

    private static XenbusStep frontendStarting(XenbusState ours, boolean attached) {
        if (attached) {
            // The frontend started over without closing (kexec, a reloaded driver): its old ring is gone.
            return new XenbusStep.Disconnect(INIT_WAIT);
        }
        // First start, or a reconnect after Closed while online = 1. libxl waits for exactly InitWait.
        return ours == INIT_WAIT || ours == CLOSING ? XenbusStep.STAY : new XenbusStep.Switch(INIT_WAIT);
    }

    private static XenbusStep frontendReady(XenbusState ours, boolean attached) {
        if (attached) {
            if (ours == CLOSING || ours == CLOSED) {
                return new XenbusStep.Disconnect(CLOSED); // someone else closed our node under us
            }
            return ours == CONNECTED ? XenbusStep.STAY : new XenbusStep.Switch(CONNECTED);
        }
        if (ours == CONNECTED) {
            // Connected in xenstore but not here: the daemon restarted. Re-attach silently; writing
            // Closing/Closed now would make Linux drop the TPM until the toolstack recreates it.
            return XenbusStep.CONNECT;
        }
        if (ours == CLOSING || ours == CLOSED) {
            return XenbusStep.STAY; // the frontend has to start over (state 1) before we connect again
        }
        if (ours == XenbusState.INITIALISING || ours == XenbusState.UNKNOWN) {
            // Linux xen-tpmfront goes Initialised in its probe without waiting for us, so on a hot plug (xl
            // vtpm-attach to a running guest) it is Initialised before we first look. libxl waits 10 s for
            // exactly InitWait, and connecting may take longer (a first start manufactures): InitWait first,
            // connect on the next look (our own write fires the watch).
            return new XenbusStep.Switch(INIT_WAIT);
        }
        return XenbusStep.CONNECT;
    }

    private static XenbusStep switchUnlessClosing(XenbusState ours) {
        return ours == CLOSING || ours == CLOSED ? XenbusStep.STAY : new XenbusStep.Switch(CLOSING);
    }
}
