package org.vtpmback.test.emulator;

import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.vtpmback.backend.device.VtpmKeys;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.ring.TpmRequest;
import org.vtpmback.backend.ring.TpmResponses;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.backend.xen.sim.SimulatedGrantMapper;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.xen.XenException;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * TEST-ONLY stand-in for the daemon while it is unfinished: a minimal mini-os-tpmback-like backend
 * for one device, built from the backend's real pieces (simulated grant mapper and event channels,
 * {@link SharedPage}, a {@link TpmEngine}). It writes feature-protocol-v2 and InitWait, watches the
 * frontend state, maps and binds on Initialised/Connected (again whenever ring-ref or port change,
 * or the frontend goes back to Initialised, i.e. resumed), writes Connected and scans the page for
 * a SUBMIT whose notification was lost; Closing/Closed unmap and follow. Not a reference for the
 * real daemon: no error paths beyond what the emulator tests need.
 *
 * <p>All work runs on one executor thread. The test owns the engine; close() does not close it.
 */
final class BackendStub implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(BackendStub.class.getName());

    private final XenStore xs;
    private final int feDomid;
    private final XsPath backend;
    private final TpmEngine engine;
    private final SimulatedGrantMapper mapper;
    private final SimulatedEventChannels channels;
    private final ExecutorService executor;
    private final AtomicInteger served = new AtomicInteger();
    private final Semaphore unservedSubmits = new Semaphore(0);
    private volatile boolean serving = true;
    private XsPath frontend;
    private Watch watch;
    private XenbusState ourState = XenbusState.INITIALISING;
    private XenbusState lastFrontendState = XenbusState.UNKNOWN;
    private MappedGrant mapped;
    private SharedPage page;
    private BoundPort port;
    private int ref;
    private int remotePort;

    BackendStub(XenStore xs, SimulationDirectory directory, int beDomid, int feDomid, int devid, TpmEngine engine) {
        this.xs = xs;
        this.feDomid = feDomid;
        this.backend = new ToolstackEmulator(xs, beDomid).backendPath(feDomid, devid);
        this.engine = engine;
        this.mapper = new SimulatedGrantMapper(directory);
        this.channels = new SimulatedEventChannels(directory, beDomid);
        this.executor = Executors.newSingleThreadExecutor(r -> FrontendEmulator.daemon(r, "stub-be-d" + feDomid + "-" + devid));
    }

    /** feature-protocol-v2 = 1, InitWait, then watch the frontend state (fires once at once). */
    void start() {
        frontend = XsPath.of(xs.read(backend.child(VtpmKeys.FRONTEND)).orElseThrow());
        xs.write(backend.child(VtpmKeys.FEATURE_PROTOCOL_V2), "1");
        setState(XenbusState.INIT_WAIT);
        watch = xs.watch(frontend.child(VtpmKeys.STATE), p -> executor.execute(this::onFrontendChanged));
    }

    /** Number of TPM commands answered so far. */
    int served() {
        return served.get();
    }

    /** Stops (false) or resumes (true) answering SUBMITs, to keep a command in flight. */
    void setServing(boolean on) {
        serving = on;
        if (on) {
            executor.execute(this::service);
        }
    }

    /** While not serving: waits until a SUBMIT was seen and left alone. */
    boolean awaitUnservedSubmit(Duration timeout) throws InterruptedException {
        return unservedSubmits.tryAcquire(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Misbehaves on purpose: answers the pending SUBMIT with IDLE, which the guest reads as cancelled. */
    void answerIdle() {
        executor.execute(() -> {
            page.acknowledgeCancel();
            port.notifyRemote();
        });
    }

    private void onFrontendChanged() {
        XenbusState fe = xs.read(frontend.child(VtpmKeys.STATE)).flatMap(XenbusState::parse).orElse(XenbusState.UNKNOWN);
        switch (fe) {
            case INITIALISED, CONNECTED -> connect(fe);
            case CLOSING -> {
                disconnect();
                setState(XenbusState.CLOSING);
            }
            case CLOSED, UNKNOWN -> {
                disconnect();
                setState(XenbusState.CLOSED);
            }
            default -> {
                // Initialising / InitWait: nothing published yet
            }
        }
        lastFrontendState = fe;
    }

    private void connect(XenbusState fe) {
        OptionalInt newRef = readInt(VtpmKeys.RING_REF);
        OptionalInt newPort = readInt(VtpmKeys.EVENT_CHANNEL);
        if (newRef.isEmpty() || newPort.isEmpty()
                || !"1".equals(xs.read(frontend.child(VtpmKeys.FEATURE_PROTOCOL_V2)).orElse(""))) {
            return;
        }
        boolean resumed = fe == XenbusState.INITIALISED && lastFrontendState == XenbusState.CONNECTED;
        if (page == null || resumed || newRef.getAsInt() != ref || newPort.getAsInt() != remotePort) {
            disconnect();
            try {
                mapped = mapper.map(feDomid, newRef.getAsInt());
                page = new SharedPage(mapped.page());
                port = channels.bind(feDomid, newPort.getAsInt(), p -> executor.execute(this::service));
                ref = newRef.getAsInt();
                remotePort = newPort.getAsInt();
            } catch (XenException e) {
                LOG.log(System.Logger.Level.INFO, "stub: cannot connect yet: " + e.getMessage());
                disconnect();
                return;
            }
        }
        setState(XenbusState.CONNECTED);
        service(); // the frontend's first notification was probably lost (pitfall 6)
    }

    private void service() {
        if (page == null) {
            return;
        }
        PageState state;
        try {
            state = page.state();
        } catch (GuestProtocolException e) {
            return;
        }
        if (!serving) {
            if (state == PageState.SUBMIT) {
                unservedSubmits.release();
            }
            return;
        }
        if (state == PageState.SUBMIT) {
            byte[] response;
            try {
                TpmRequest request = page.takeRequest();
                response = engine.execute(request.locality(), request.command());
            } catch (GuestProtocolException | EngineException e) {
                response = TpmResponses.tpm2Error(TpmResponses.TPM2_RC_FAILURE);
            }
            page.writeResponse(response);
            served.incrementAndGet();
            port.notifyRemote();
        } else if (state == PageState.CANCEL) {
            page.acknowledgeCancel();
            port.notifyRemote();
        }
    }

    private void disconnect() {
        if (port != null) {
            port.close();
            port = null;
        }
        if (mapped != null) {
            mapped.close();
            mapped = null;
        }
        page = null;
    }

    private void setState(XenbusState state) {
        if (state != ourState) {
            xs.write(backend.child(VtpmKeys.STATE), state.wire());
            ourState = state;
        }
    }

    private OptionalInt readInt(String key) {
        try {
            return xs.read(frontend.child(key)).map(v -> OptionalInt.of(Integer.parseUnsignedInt(v)))
                    .orElse(OptionalInt.empty());
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (watch != null) {
            watch.close();
        }
        executor.execute(this::disconnect);
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        channels.close();
    }
}
