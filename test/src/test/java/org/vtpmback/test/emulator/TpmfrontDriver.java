package org.vtpmback.test.emulator;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntSupplier;
import org.vtpmback.backend.device.VtpmKeys;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * The xenbus half of {@link FrontendEmulator}: tpmfront_probe / tpmfront_remove / tpmfront_resume
 * and backend_changed, all on one thread per device, as the kernel's xenwatch thread serialises
 * them. Owns the current {@link GuestRing} (null while no chip is registered) and the watch on the
 * backend state. Public-facing methods block until the xenbus thread has done the work.
 */
final class TpmfrontDriver {
    private static final int EINVAL = 22;
    private static final Duration XENBUS_CALL_TIMEOUT = Duration.ofSeconds(30);

    private final XenStore xs;
    private final SimulationDirectory directory;
    private final int domid;
    private final int backendDomid;
    private final XenbusNode node;
    private final ReentrantLock commandLock;
    private final IntSupplier locality;
    private final ExecutorService xenbus;
    private final String name;
    private volatile GuestRing ring;
    private volatile XsPath backendPath;
    private volatile CompletableFuture<byte[]> firstResponse =
            CompletableFuture.failedFuture(new TpmDeviceGoneException("not probed yet"));
    private volatile boolean closed;
    private Watch backendWatch; // xenbus thread only
    /** The last probe's stamps: written on the xenbus thread (the answer's on the command's), read by benchmarks. */
    private volatile long probeStart;
    private volatile long initialisedAt;
    private volatile long backendConnectedAt;
    private volatile long connectedAt;
    private volatile long firstAnswerAt;

    TpmfrontDriver(XenStore xs, SimulationDirectory directory, int domid, int devid, int backendDomid,
                   ReentrantLock commandLock, IntSupplier locality) {
        this.xs = xs;
        this.directory = directory;
        this.domid = domid;
        this.backendDomid = backendDomid;
        XsPath domain = XsPath.of("/local/domain").child(domid);
        this.node = new XenbusNode(xs, domain.child("device").child("vtpm").child(devid),
                domain.child("error").child("device").child("vtpm").child(devid));
        this.commandLock = commandLock;
        this.locality = locality;
        this.name = "tpmfront-d" + domid + "-" + devid;
        this.backendPath = defaultBackendPath(devid);
        this.xenbus = Executors.newSingleThreadExecutor(r -> FrontendEmulator.daemon(r, name + "-xenbus"));
    }

    XenbusNode node() {
        return node;
    }

    /** The registered chip's ring, or null. */
    GuestRing ring() {
        return ring;
    }

    XsPath backendPath() {
        return backendPath;
    }

    /** The last probe's (or resume's) stamps. */
    ProbeTimes probeTimes() {
        return new ProbeTimes(probeStart, initialisedAt, backendConnectedAt, connectedAt, firstAnswerAt);
    }

    CompletableFuture<byte[]> firstResponse() {
        return firstResponse;
    }

    /** tpmfront_probe; returns once the first command is on the page, then watches the backend. */
    void probe(byte[] firstCommand) throws InterruptedException {
        CountDownLatch submitted = onXenbus(() -> publish(null, firstCommand));
        watchOtherEnd(submitted);
    }

    /** tpmfront_resume = tpmfront_remove (no state written) + tpmfront_probe with a new ring. */
    void resume(byte[] firstCommand) throws InterruptedException {
        CountDownLatch submitted = onXenbus(() -> {
            // New ring first, so ref and port differ from the old ones (the simulation hands out
            // the lowest free number); Linux frees first and may reuse them: backends must cope.
            GuestRing fresh = GuestRing.allocate(directory, domid, backendDomid);
            unregister();
            node.forgetState(); // xenbus_dev_resume: dev->state = Initialising, nothing written
            return publish(fresh, firstCommand);
        });
        watchOtherEnd(submitted);
    }

    /** xenbus_dev_remove: unregister, switch to Closed, stop the thread. Idempotent. */
    void close() {
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
        }
    }

    // ---- xenbus thread ----

    /** setup_ring: publish in one transaction, switch to Initialised after the commit, send at once. */
    private CountDownLatch publish(GuestRing preallocated, byte[] firstCommand) {
        if (closed) {
            throw new IllegalStateException("frontend emulator is closed");
        }
        if (ring != null) {
            throw new IllegalStateException("already probed: use resume() or close()");
        }
        probeStart = System.nanoTime();
        initialisedAt = 0;
        backendConnectedAt = 0;
        connectedAt = 0;
        firstAnswerAt = 0;
        backendPath = readBackendPath();
        GuestRing r = preallocated != null ? preallocated : GuestRing.allocate(directory, domid, backendDomid);
        try {
            xs.inTransaction(t -> {
                t.write(node.path().child(VtpmKeys.RING_REF), Integer.toUnsignedString(r.ref()));
                t.write(node.path().child(VtpmKeys.EVENT_CHANNEL), Integer.toUnsignedString(r.port()));
                t.write(node.path().child(VtpmKeys.FEATURE_PROTOCOL_V2), "1");
                return null;
            });
            node.switchState(XenbusState.INITIALISED);
            initialisedAt = System.nanoTime();
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
        ring = r;
        CountDownLatch submitted = new CountDownLatch(1);
        firstResponse = FirstCommand.start(r, firstCommand, locality.getAsInt(), commandLock, submitted, name + "-probe");
        firstResponse.thenRun(() -> firstAnswerAt = System.nanoTime());
        return submitted;
    }

    /** xenbus_dev_probe's watch_otherend, after the driver's probe (which sent the first command). */
    private void watchOtherEnd(CountDownLatch submitted) throws InterruptedException {
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
                if (backendConnectedAt == 0) {
                    backendConnectedAt = System.nanoTime();
                }
                if (node.readUnsigned(backendPath, VtpmKeys.FEATURE_PROTOCOL_V2) == 0) {
                    node.devFatal(EINVAL, "vTPM protocol 2 required");
                    return;
                }
                node.switchState(XenbusState.CONNECTED);
                connectedAt = System.nanoTime();
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

    /** tpmfront_remove (ring_free) + free_otherend_watch; the node's state is left alone. */
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
            return xs.read(node.path().child(VtpmKeys.BACKEND)).map(XsPath::of).orElse(backendPath);
        } catch (IllegalArgumentException garbage) {
            return backendPath;
        }
    }

    private XsPath defaultBackendPath(int devid) {
        return XsPath.of("/local/domain").child(backendDomid).child("backend").child("vtpm").child(domid).child(devid);
    }

    private <T> T onXenbus(Callable<T> work) throws InterruptedException {
        try {
            return xenbus.submit(work).get(XENBUS_CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("xenbus thread of " + node.path() + " did not answer in time", e);
        }
    }
}
