package org.vtpmback.test.faults.guest;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.xen.sim.SimulatedFrontendChannel;
import org.vtpmback.backend.xen.sim.SimulatedGrant;
import org.vtpmback.backend.xen.sim.SimulatedGrantAllocator;
import org.vtpmback.test.emulator.NodeWatcher;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.GuestRingConnection;
import org.vtpmback.test.xenstored.PrivilegedSocketConnection;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * A hostile domU as a malicious userspace frontend would be on real Xen: the toolstack (dom0) adds
 * its vtpm device as libxl does, then everything the guest does goes through its own resources:
 * xenstore over its own, unprivileged xenstored connection (the shim's guest ring, so xenstored
 * enforces a domU's permissions and quotas), a granted page and an event channel of the simulated
 * Xen the daemon maps and binds. Not thread-safe except {@link #notifyBackend()}, which a flood
 * thread may call while another thread exchanges.
 */
final class RogueGuest implements AutoCloseable {
    static final int OFFSET_LENGTH = 0;
    static final int OFFSET_STATE = 4;
    static final int OFFSET_LOCALITY = 5;
    static final int OFFSET_NR_EXTRA = 7;
    static final int DATA = 8;
    static final int PAGE = 4096;
    static final int STATE_IDLE = 0;
    static final int STATE_SUBMIT = 1;
    static final int STATE_FINISH = 2;
    static final int STATE_CANCEL = 3;

    final int domid;
    final String uuid;
    private final SimulatedVtpmHost host;
    private final XenstoredDaemon xsd;
    private final GuestRingConnection xs;
    private final NodeWatcher backendState;
    private SimulatedGrant grant;
    private ByteBuffer page;
    private volatile SimulatedFrontendChannel channel;
    private boolean closed;

    private RogueGuest(SimulatedVtpmHost host, XenstoredDaemon xsd, int domid, String uuid, GuestRingConnection xs) {
        this.host = host;
        this.xsd = xsd;
        this.domid = domid;
        this.uuid = uuid;
        this.xs = xs;
        this.backendState = new NodeWatcher(host.xenstore(), backendPath().child("state"));
    }

    /**
     * The toolstack creates domain {@code domid} (home owned by the guest), xenstored is told about it
     * (XS_INTRODUCE, as libxl does), and the device is added: the backend must reach InitWait within
     * libxl's 10 s. Returns the guest with its own xenstored connection open.
     */
    static RogueGuest create(SimulatedVtpmHost host, XenstoredDaemon xsd, int domid, String uuid) throws Exception {
        host.domains().record(domid, Optional.empty());
        host.toolstack().createDomain(domid);
        try (PrivilegedSocketConnection dom0 = xsd.connect()) {
            dom0.introduce(domid, 0x1000L + domid, 100 + domid);
        }
        GuestRingConnection conn = GuestRingConnection.open(xsd.shimDir(), domid);
        conn.setTimeout(Duration.ofSeconds(30));
        RogueGuest g = new RogueGuest(host, xsd, domid, uuid, conn);
        try {
            host.toolstack().addVtpm(domid, 0, uuid);
        } catch (RuntimeException | InterruptedException e) {
            g.close();
            throw e;
        }
        return g;
    }

    /** The guest's own xenstored connection (unprivileged, domain {@link #domid}). */
    GuestRingConnection xenstore() {
        return xs;
    }

    String frontendPath() {
        return "/local/domain/" + domid + "/device/vtpm/0";
    }

    XsPath backendPath() {
        return host.toolstack().backendPath(domid, 0);
    }

    /** Grants a fresh zeroed page and allocates an unbound port, as tpmfront_probe does; drops old ones. */
    RogueGuest allocateRing() {
        releaseRing();
        grant = new SimulatedGrantAllocator(host.simulation(), domid).allocate();
        page = grant.page().duplicate().order(ByteOrder.nativeOrder());
        channel = SimulatedFrontendChannel.allocateUnbound(host.simulation(), domid, SimulatedVtpmHost.BACKEND_DOMID);
        return this;
    }

    String ringRef() {
        return Integer.toUnsignedString(grant.ref());
    }

    String port() {
        return Integer.toString(channel.port());
    }

    /** Publishes the real ring keys over the guest's own connection, then Initialised; waits for Connected. */
    boolean connect(Duration timeout) throws InterruptedException {
        allocateRing();
        String fe = frontendPath();
        xs.write(fe + "/ring-ref", ringRef());
        xs.write(fe + "/event-channel", port());
        xs.write(fe + "/feature-protocol-v2", "1");
        xs.write(fe + "/state", XenbusState.INITIALISED.wire());
        return awaitBackend(XenbusState.CONNECTED, timeout);
    }

    boolean awaitBackend(XenbusState s, Duration timeout) throws InterruptedException {
        return backendState.await(s, timeout);
    }

    Optional<String> backendState() {
        return backendState.value();
    }

    /** The error node the daemon writes for a failed device, read by dom0. */
    Optional<String> errorNode() {
        return host.xenstore().read(SimulatedVtpmHost.errorNode(domid, 0));
    }

    ByteBuffer page() {
        return page;
    }

    boolean notifyBackend() {
        SimulatedFrontendChannel c = channel;
        return c != null && c.notifyBackend();
    }

    /**
     * Writes a whole page image (header and data) with the state byte last, behind a release fence,
     * as a guest publishes a request; then notifies.
     */
    void submitRaw(byte[] image) {
        page.put(DATA, image, DATA, PAGE - DATA);
        page.put(0, image, 0, OFFSET_STATE);
        page.put(OFFSET_LOCALITY, image, OFFSET_LOCALITY, DATA - OFFSET_LOCALITY);
        VarHandle.releaseFence();
        page.put(OFFSET_STATE, image[OFFSET_STATE]);
        VarHandle.fullFence();
        notifyBackend();
    }

    /** A well-formed command at locality 0: the response, or empty if none came within {@code timeout}. */
    Optional<byte[]> exchange(byte[] command, Duration timeout) throws InterruptedException {
        page.put(DATA, command);
        page.putInt(OFFSET_LENGTH, command.length);
        page.put(OFFSET_LOCALITY, (byte) 0);
        page.put(OFFSET_NR_EXTRA, (byte) 0);
        VarHandle.releaseFence();
        page.put(OFFSET_STATE, (byte) STATE_SUBMIT);
        VarHandle.fullFence();
        notifyBackend();
        return awaitAnswer(timeout);
    }

    /**
     * Waits for the backend to move the page off SUBMIT: FINISH gives the response bytes, IDLE an
     * empty array (a cancel acknowledged). Empty on timeout.
     */
    Optional<byte[]> awaitAnswer(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int state = pageState();
            if (state == STATE_FINISH) {
                int len = page.getInt(OFFSET_LENGTH);
                byte[] out = new byte[Math.max(0, Math.min(len, PAGE - DATA))];
                page.get(DATA, out);
                return Optional.of(out);
            }
            if (state == STATE_IDLE) {
                return Optional.of(new byte[0]);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Optional.empty();
            }
            channel.awaitNotification(Duration.ofNanos(Math.min(left, Duration.ofMillis(5).toNanos())));
        }
    }

    /** Waits until the page state byte is {@code wanted}; false on timeout. */
    boolean awaitPageState(int wanted, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (pageState() != wanted) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            channel.awaitNotification(Duration.ofNanos(Math.min(left, Duration.ofMillis(5).toNanos())));
        }
        return true;
    }

    int pageState() {
        int state = Byte.toUnsignedInt(page.get(OFFSET_STATE));
        VarHandle.acquireFence();
        return state;
    }

    private void releaseRing() {
        SimulatedFrontendChannel c = channel;
        channel = null;
        if (c != null) {
            c.close();
        }
        if (grant != null) {
            grant.revoke();
            grant = null;
        }
    }

    /**
     * {@code xl destroy}: the toolstack removes the device (backend must reach Closed within libxl's
     * 10 s), then the domain dies. Returns whether the backend was Closed in time.
     */
    boolean destroy() throws InterruptedException {
        boolean closed = host.toolstack().destroyDomain(domid, 0);
        close();
        return closed;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        backendState.close();
        releaseRing();
        xs.close();
        xsd.killDomain(domid);
    }

    /** For log lines. */
    @Override
    public String toString() {
        return "rogue domain " + domid + " (vTPM " + uuid + ")";
    }
}
