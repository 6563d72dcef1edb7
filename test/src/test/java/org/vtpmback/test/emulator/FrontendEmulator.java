package org.vtpmback.test.emulator;

import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.vtpmback.backend.device.VtpmKeys;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * Emulates one Linux {@code xen-tpmfront} device (drivers/char/tpm/xen-tpmfront.c) on the simulated
 * Xen of {@link SimulationDirectory} and a real xenstored: probe publishes a fresh ring and
 * immediately sends a TPM command, backend state changes connect or unregister the device, resume
 * replaces the ring, and {@link #transmit} is the {@code /dev/tpm0} write+read of one command.
 *
 * <p>Xenstore writes go through the given store as whatever domain it is connected as (dom0 in the
 * tests); guest permissions are tested elsewhere.
 *
 * <p>Threads: xenbus work (probe, watch events, resume, close) runs on one thread per emulator, as
 * the kernel's xenwatch thread serialises it; {@link #transmit} runs on the caller's thread, one
 * command at a time. All public methods are thread-safe. The caller owns the emulator and closes it.
 */
public final class FrontendEmulator implements AutoCloseable {
    /** Largest command: 4096 minus the 8-byte page header (xen-tpmfront: -EINVAL beyond it). */
    public static final int MAX_COMMAND_SIZE = FrontendPage.MAX_PAYLOAD;
    /** How long the probe's first command may take (Linux: timeout_c, then the ordinal's duration). */
    public static final Duration PROBE_COMMAND_TIMEOUT = Duration.ofSeconds(60);
    private static final int TPM_HEADER_SIZE = 10;
    private static final int EINVAL = 22;
    private static final Duration XENBUS_CALL_TIMEOUT = Duration.ofSeconds(30);

    private final XenStore xs;
    private final SimulationDirectory directory;
    private final int domid;
    private final int devid;
    private final int backendDomid;
    private final XenbusNode node;
    private final ExecutorService xenbus;
    private final StateWaiter stateWaiter;
    private final ReentrantLock commandLock = new ReentrantLock(true);
    private volatile GuestRing ring;           // null while unregistered; written on the xenbus thread
    private volatile XsPath backendPath;
    private volatile CompletableFuture<byte[]> firstResponse =
            CompletableFuture.failedFuture(new TpmDeviceGoneException("not probed yet"));
    private volatile int locality;
    private volatile byte[] probeCommand = TpmPackets.linuxGetTimeoutsCommand();
    private volatile boolean closed;
    private Watch backendWatch;                // xenbus thread only

    public FrontendEmulator(XenStore xs, SimulationDirectory directory, int domid, int devid, int backendDomid) {
        this.xs = Objects.requireNonNull(xs, "xs");
        this.directory = Objects.requireNonNull(directory, "directory");
        this.domid = domid;
        this.devid = devid;
        this.backendDomid = backendDomid;
        XsPath domain = XsPath.of("/local/domain").child(domid);
        this.node = new XenbusNode(xs, domain.child("device").child("vtpm").child(devid),
                domain.child("error").child("device").child("vtpm").child(devid));
        this.backendPath = defaultBackendPath();
        String name = "tpmfront-d" + domid + "-" + devid;
        this.xenbus = Executors.newSingleThreadExecutor(r -> daemon(r, name + "-xenbus"));
        this.stateWaiter = new StateWaiter(xs, node.path().child(VtpmKeys.STATE));
    }

    /** {@code /local/domain/<fe>/device/vtpm/<devid>}. */
    public XsPath frontendPath() {
        return node.path();
    }

    /** The backend directory: the frontend's {@code backend} key at probe time, or the standard path. */
    public XsPath backendPath() {
        return backendPath;
    }

    /** The frontend {@code state} node as xenstore has it (UNKNOWN if missing). */
    public XenbusState state() {
        return node.readState(node.path().child(VtpmKeys.STATE));
    }

    /** Whether the frontend state is Connected and the chip registered. */
    public boolean isConnected() {
        return ring != null && state() == XenbusState.CONNECTED;
    }

    public boolean awaitConnected(Duration timeout) throws InterruptedException {
        return awaitState(XenbusState.CONNECTED, timeout);
    }

    /** Waits until the frontend {@code state} node reads {@code wanted}; false on timeout. */
    public boolean awaitState(XenbusState wanted, Duration timeout) throws InterruptedException {
        return stateWaiter.await(wanted, timeout);
    }

    /** Locality byte for later commands (0..255, unchecked like the page byte); Linux always uses 0. */
    public void setLocality(int locality) {
        if (locality < 0 || locality > 255) {
            throw new IllegalArgumentException("locality " + locality + " does not fit the page's byte");
        }
        this.locality = locality;
    }

    /** The command each probe sends at once; default Linux's TPM 1.2 GetCapability (TIS timeouts). */
    public void setProbeCommand(byte[] command) {
        this.probeCommand = command.clone();
    }

    /** The response to the latest probe's first command; completes exceptionally if it failed. */
    public CompletableFuture<byte[]> firstResponse() {
        return firstResponse;
    }

    /** The grant reference of the current ring. */
    public int ringRef() throws TpmDeviceGoneException {
        return currentRing().ref();
    }

    /** The event channel port of the current ring. */
    public int eventChannel() throws TpmDeviceGoneException {
        return currentRing().port();
    }

    /**
     * tpmfront_probe: new zeroed page and unbound port; ring-ref, event-channel and
     * feature-protocol-v2 in one transaction (setup_ring), then Initialised (3); then at once the
     * first TPM command (tpm_get_timeouts), before the backend is necessarily connected. Returns once
     * that command is on the page; its response arrives in {@link #firstResponse()}. Then, like
     * xenbus_dev_probe's watch_otherend, the backend state is watched.
     *
     * @throws IllegalStateException if already probed (use {@link #resume()}) or closed
     */
    public void probe() throws InterruptedException {
        CountDownLatch submitted = onXenbus(() -> publish(null));
        afterPublish(submitted);
    }

    /**
     * tpmfront_resume after save/restore or migration: tpmfront_remove (drop page and port, without
     * writing Closed), then tpmfront_probe with a new page and port. The new ring is allocated before
     * the old one is freed so its ref and port differ (the simulation hands out the lowest free
     * number; Linux would often reuse it too, and a backend must not rely on the numbers changing).
     */
    public void resume() throws InterruptedException {
        CountDownLatch submitted = onXenbus(() -> {
            GuestRing fresh = GuestRing.allocate(directory, domid, backendDomid);
            unregister();
            node.forgetState(); // xenbus_dev_resume: dev->state = Initialising, nothing written
            return publish(fresh);
        });
        afterPublish(submitted);
    }

    /**
     * One TPM command, as a write and a read on {@code /dev/tpm0}: at most one in flight.
     *
     * @throws IllegalArgumentException for fewer than 10 or more than {@value #MAX_COMMAND_SIZE}
     *     bytes (xen-tpmfront and the TPM core: -EINVAL); nothing reaches the page
     * @throws TpmDeviceGoneException if the chip is not registered, or goes away meanwhile
     * @throws TpmTimeoutException after writing CANCEL, if the page stays busy or no response comes
     * @throws TpmCancelledException if the backend answers IDLE
     * @throws TpmFrontendException if the response header is inconsistent (TPM core: -EFAULT)
     */
    public byte[] transmit(byte[] command, Duration timeout) throws TpmFrontendException, InterruptedIOException {
        if (command.length < TPM_HEADER_SIZE || command.length > MAX_COMMAND_SIZE) {
            throw new IllegalArgumentException("a command of " + command.length + " bytes does not fit: "
                    + TPM_HEADER_SIZE + ".." + MAX_COMMAND_SIZE + " (-EINVAL)");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            commandLock.lockInterruptibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the previous command");
        }
        try {
            GuestRing r = currentRing();
            r.submit(command, locality, deadline);
            return checkHeader(r.awaitResponse(deadline));
        } finally {
            commandLock.unlock();
        }
    }

    /** Module unload (xenbus_dev_remove): unregister the chip, switch to Closed, free the ring. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            onXenbus(() -> {
                unregister();
                node.switchState(XenbusState.CLOSED);
                return null;
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closed = true;
            xenbus.shutdownNow();
            stateWaiter.close();
        }
    }

    // ---- xenbus thread ----

    private CountDownLatch publish(GuestRing preallocated) {
        if (closed) {
            throw new IllegalStateException("frontend emulator is closed");
        }
        if (ring != null) {
            throw new IllegalStateException("already probed: use resume() or close()");
        }
        backendPath = readBackendPath();
        GuestRing r = preallocated != null ? preallocated : GuestRing.allocate(directory, domid, backendDomid);
        try {
            xs.inTransaction(t -> {
                t.write(node.path().child(VtpmKeys.RING_REF), Integer.toUnsignedString(r.ref()));
                t.write(node.path().child(VtpmKeys.EVENT_CHANNEL), Integer.toUnsignedString(r.port()));
                t.write(node.path().child(VtpmKeys.FEATURE_PROTOCOL_V2), "1");
                return null;
            });
            node.switchState(XenbusState.INITIALISED); // after the commit, as setup_ring does
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
        ring = r;
        CountDownLatch submitted = new CountDownLatch(1);
        firstResponse = FirstCommand.start(r, probeCommand.clone(), locality, commandLock, submitted,
                "tpmfront-d" + domid + "-" + devid + "-probe");
        return submitted;
    }

    private void afterPublish(CountDownLatch submitted) throws InterruptedException {
        submitted.await(XENBUS_CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        onXenbus(() -> {
            if (ring != null && backendWatch == null) {
                backendWatch = xs.watch(backendPath.child(VtpmKeys.STATE), p -> xenbus.execute(this::onBackendChanged));
            }
            return null;
        });
    }

    /** tpmfront's backend_changed, reached through xenbus_otherend_changed. */
    private void onBackendChanged() {
        if (ring == null || closed) {
            return; // unregistered: no driver is bound to the node any more
        }
        switch (node.readState(backendPath.child(VtpmKeys.STATE))) {
            case INITIALISED, CONNECTED -> {
                if (node.localState() == XenbusState.CONNECTED) {
                    return;
                }
                if (node.readUnsigned(backendPath, VtpmKeys.FEATURE_PROTOCOL_V2) == 0) {
                    node.devFatal(EINVAL, "vTPM protocol 2 required");
                    return;
                }
                node.switchState(XenbusState.CONNECTED);
            }
            case CLOSING, CLOSED -> {
                unregister();                          // device_unregister: the chip disappears
                node.switchState(XenbusState.CLOSED);  // xenbus_frontend_closed
            }
            default -> {
                // InitWait and the rest: tpmfront does not wait for them
            }
        }
    }

    /** tpmfront_remove + free_otherend_watch; the node stays as it is. */
    private void unregister() {
        if (backendWatch != null) {
            backendWatch.close();
            backendWatch = null;
        }
        GuestRing r = ring;
        ring = null;
        if (r != null) {
            r.close();
        }
    }

    private XsPath readBackendPath() {
        try {
            return xs.read(node.path().child(VtpmKeys.BACKEND)).map(XsPath::of).orElseGet(this::defaultBackendPath);
        } catch (IllegalArgumentException garbage) {
            return defaultBackendPath();
        }
    }

    private XsPath defaultBackendPath() {
        return XsPath.of("/local/domain").child(backendDomid).child("backend").child("vtpm").child(domid).child(devid);
    }

    // ---- helpers ----

    private GuestRing currentRing() throws TpmDeviceGoneException {
        GuestRing r = ring;
        if (r == null || r.isClosed()) {
            throw new TpmDeviceGoneException("no vTPM: frontend " + node.path() + " is not probed or was unregistered");
        }
        return r;
    }

    /** tpm_try_transmit: a response shorter than a header, or whose size field lies, is -EFAULT. */
    private static byte[] checkHeader(byte[] response) throws TpmFrontendException {
        if (response.length < TPM_HEADER_SIZE || ByteBuffer.wrap(response).getInt(2) != response.length) {
            throw new TpmFrontendException("malformed TPM response of " + response.length + " bytes (-EFAULT)");
        }
        return response;
    }

    private <T> T onXenbus(Callable<T> work) throws InterruptedException {
        try {
            return xenbus.submit(work).get(XENBUS_CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("xenbus thread of " + node.path() + " did not answer in time", e);
        }
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Override
    public String toString() {
        return "FrontendEmulator[" + node.path() + ", " + (ring == null ? "unregistered" : ring) + "]";
    }
}
