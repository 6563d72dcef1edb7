package org.vtpmback.backend.device;

import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;

/**
 * The guest's resources a connected data path holds: its shared page, mapped, and its event channel,
 * bound. A class of its own for the one rule they share: the reply loop may notify the guest after the
 * device's turn ended, while the device's executor releases the ring, so a late notification and the
 * port's closing are ordered under one lock, and a closed port is never notified (a port number reused by
 * another binding must not get this guest's notification).
 *
 * <p>Confined to the device's turn, except {@link #notifyAfterTurn} and {@link #release}.
 */
final class BoundRing {
    private final FrontendRing ring;
    private final MappedGrant grant;
    private final SharedPage page;
    private BoundPort port;
    /** Guards the port between a notification sent after the turn ended and {@link #release}. */
    private final Object portLock = new Object();
    /** Set by {@link #release} under {@link #portLock}. */
    private boolean released;

    BoundRing(FrontendRing ring, MappedGrant grant) {
        this.ring = ring;
        this.grant = grant;
        this.page = new SharedPage(grant.page());
    }

    void attachPort(BoundPort port) {
        this.port = port;
    }

    /** What the frontend published: how a reconnect tells a new ring from this one. */
    FrontendRing ring() {
        return ring;
    }

    SharedPage page() {
        return page;
    }

    /** In the device's turn: tells the guest to look at the page. */
    void notifyGuest() {
        port.notifyRemote();
    }

    /** In the device's turn: puts an answer on the page and tells the guest. */
    void respond(byte[] response) {
        page.writeResponse(response);
        port.notifyRemote();
    }

    /**
     * Notifies the guest after the turn ended, when the device's executor may already be releasing the
     * ring: under {@link #portLock}, and not once the port is closed.
     */
    void notifyAfterTurn() {
        synchronized (portLock) {
            if (!released) {
                port.notifyRemote();
            }
        }
    }

    /** Closes the port (if one was bound), then unmaps the page, even if closing the port failed. */
    void release() {
        try {
            synchronized (portLock) {
                released = true;
                if (port != null) {
                    port.close();
                }
            }
        } finally {
            grant.close();
        }
    }
}
