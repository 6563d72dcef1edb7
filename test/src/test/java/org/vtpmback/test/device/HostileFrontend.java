package org.vtpmback.test.device;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.xen.sim.SimulatedFrontendChannel;
import org.vtpmback.backend.xen.sim.SimulatedGrant;
import org.vtpmback.backend.xen.sim.SimulatedGrantAllocator;
import org.vtpmback.test.emulator.NodeWatcher;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * A guest that does everything by hand, so it can do it wrong: the toolstack adds the device
 * normally, then this frontend writes whatever xenstore keys and page bytes a test wants. The page
 * and port are real simulated Xen resources, so a well-behaved use of them connects for real.
 */
final class HostileFrontend implements AutoCloseable {
    static final int OFFSET_LENGTH = 0;
    static final int OFFSET_STATE = 4;
    static final int OFFSET_LOCALITY = 5;
    static final int OFFSET_NR_EXTRA = 7;
    static final int DATA = 8;

    final int domid;
    private final SimulatedVtpmHost host;
    private final XenStore xs;
    private final XsPath fe;
    private final NodeWatcher backendState;
    private SimulatedGrant grant;
    private SimulatedFrontendChannel channel;

    /** Creates domain {@code domid} with a vtpm of {@code uuid} as libxl does (backend must reach InitWait). */
    HostileFrontend(SimulatedVtpmHost host, int domid, String uuid) throws InterruptedException {
        this.host = host;
        this.domid = domid;
        this.xs = host.xenstore();
        host.domains().record(domid, Optional.empty());
        host.toolstack().createDomain(domid);
        host.toolstack().addVtpm(domid, 0, uuid);
        this.fe = host.toolstack().frontendPath(domid, 0);
        this.backendState = new NodeWatcher(xs, host.toolstack().backendPath(domid, 0).child("state"));
    }

    /** Grants a zeroed page and allocates an unbound port, as tpmfront_probe does. */
    HostileFrontend allocateRing() {
        grant = new SimulatedGrantAllocator(host.simulation(), domid).allocate();
        channel = SimulatedFrontendChannel.allocateUnbound(host.simulation(), domid, SimulatedVtpmHost.BACKEND_DOMID);
        return this;
    }

    String ringRef() {
        return Integer.toUnsignedString(grant.ref());
    }

    String port() {
        return Integer.toString(channel.port());
    }

    /** Writes the three ring keys in one transaction; a null value leaves that key out. */
    HostileFrontend publish(String ringRef, String eventChannel, String protocolV2) {
        xs.inTransaction(t -> {
            if (ringRef != null) {
                t.write(fe.child("ring-ref"), ringRef);
            }
            if (eventChannel != null) {
                t.write(fe.child("event-channel"), eventChannel);
            }
            if (protocolV2 != null) {
                t.write(fe.child("feature-protocol-v2"), protocolV2);
            }
            return null;
        });
        return this;
    }

    /** Publishes the real page and port correctly. */
    HostileFrontend publishRing() {
        return publish(ringRef(), port(), "1");
    }

    void state(XenbusState s) {
        xs.write(fe.child("state"), s.wire());
    }

    /** Writes anything into the frontend's state node. */
    void rawState(String value) {
        xs.write(fe.child("state"), value);
    }

    /** Deletes the frontend's state node. */
    void deleteState() {
        xs.rm(fe.child("state"));
    }

    boolean awaitBackend(XenbusState s, Duration timeout) throws InterruptedException {
        return backendState.await(s, timeout);
    }

    Optional<String> backendState() {
        return backendState.value();
    }

    /** What DeviceNodes.writeError left for this device, if anything. */
    Optional<String> errorNode() {
        return xs.read(XsPath.of("/local/domain/0/error/backend/vtpm").child(domid).child(0).child("error"));
    }

    /** Connects properly: ring keys, Initialised, then waits for the backend to be Connected. */
    boolean connect(Duration timeout) throws InterruptedException {
        allocateRing().publishRing().state(XenbusState.INITIALISED);
        return awaitBackend(XenbusState.CONNECTED, timeout);
    }

    ByteBuffer page() {
        return grant.page();
    }

    /**
     * Puts {@code data} at offset 8 with the given header fields, SUBMIT, notify; then waits for the
     * backend to answer FINISH (the response bytes) or IDLE (null). Empty on timeout.
     */
    Optional<byte[]> exchange(long length, int locality, int nrExtraPages, byte[] data, Duration timeout)
            throws InterruptedException {
        submit(length, locality, nrExtraPages, data);
        return awaitAnswer(timeout);
    }

    /** Puts {@code data} at offset 8 with the given header fields, SUBMIT, notify; does not wait. */
    void submit(long length, int locality, int nrExtraPages, byte[] data) {
        ByteBuffer p = page();
        p.put(DATA, data);
        p.putInt(OFFSET_LENGTH, (int) length);
        p.put(OFFSET_LOCALITY, (byte) locality);
        p.put(OFFSET_NR_EXTRA, (byte) nrExtraPages);
        VarHandle.releaseFence();
        p.put(OFFSET_STATE, (byte) 1);
        VarHandle.fullFence();
        channel.notifyBackend();
    }

    /** A well-formed command at locality 0, submitted without waiting. */
    void submit(byte[] command) {
        submit(command.length, 0, 0, command);
    }

    /** Notifies the backend without touching the page (a spurious wake-up, or a flood of them). */
    void notifyBackend() {
        channel.notifyBackend();
    }

    /** Waits for FINISH (the response bytes) or IDLE (an empty array); empty on timeout. */
    Optional<byte[]> awaitAnswer(Duration timeout) throws InterruptedException {
        ByteBuffer p = page();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int state = Byte.toUnsignedInt(p.get(OFFSET_STATE));
            VarHandle.acquireFence();
            if (state == 2) {
                byte[] out = new byte[Math.min(p.getInt(OFFSET_LENGTH), 4088)];
                p.get(DATA, out);
                return Optional.of(out);
            }
            if (state == 0) {
                return Optional.of(new byte[0]);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Optional.empty();
            }
            channel.awaitNotification(Duration.ofNanos(Math.min(left, Duration.ofMillis(5).toNanos())));
        }
    }

    /** A well-formed command at locality 0. */
    Optional<byte[]> exchange(byte[] command, Duration timeout) throws InterruptedException {
        return exchange(command.length, 0, 0, command, timeout);
    }

    /** Writes a raw page state byte and notifies. */
    void writePageState(int state) {
        page().put(OFFSET_STATE, (byte) state);
        VarHandle.fullFence();
        channel.notifyBackend();
    }

    @Override
    public void close() {
        backendState.close();
        if (channel != null) {
            channel.close();
        }
        if (grant != null) {
            grant.revoke();
        }
    }
}
