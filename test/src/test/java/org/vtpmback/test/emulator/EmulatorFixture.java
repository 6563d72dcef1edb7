package org.vtpmback.test.emulator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * One guest device wired end to end for a test: libxl-like nodes on a real xenstored, a started
 * TPM 2.0 swtpm engine (INIT + Startup(CLEAR), as the backend does on a cold boot), the test-only
 * {@link BackendStub} and a {@link FrontendEmulator}, each side on its own xenstore connection.
 * Every fixture uses a fresh guest domid, so tests sharing one daemon do not meet.
 */
final class EmulatorFixture implements AutoCloseable {
    static final int BACKEND_DOMID = 0;
    static final int DEVID = 0;
    static final Duration WAIT = Duration.ofSeconds(20);
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(30);

    final int domid = NEXT_DOMID.getAndIncrement();
    final SimulationDirectory directory;
    final XenStore feStore;
    final XenStore beStore;
    final ToolstackEmulator toolstack;
    final TpmEngine engine;
    final BackendStub stub;
    final FrontendEmulator frontend;
    private final NodeWatcher backendState;

    EmulatorFixture(XenstoredDaemon xsd, Path tmp) {
        directory = new SimulationDirectory(tmp.resolve("sim"));
        feStore = LibXenStore.connect(xsd.socket());
        beStore = LibXenStore.connect(xsd.socket());
        engine = new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run")))
                .create("vtpm-d" + domid, TpmFamily.TPM2, tmp.resolve("state"));
        engine.initClear();
        assertEquals(0, engine.sendStartupClear(), "Startup(CLEAR)");
        toolstack = new ToolstackEmulator(beStore, BACKEND_DOMID);
        toolstack.writeDevice(domid, DEVID, java.util.UUID.randomUUID().toString());
        stub = new BackendStub(beStore, directory, BACKEND_DOMID, domid, DEVID, engine);
        frontend = new FrontendEmulator(feStore, directory, domid, DEVID, BACKEND_DOMID);
        backendState = new NodeWatcher(beStore, toolstack.backendPath(domid, DEVID).child("state"));
    }

    /** Boot sequence A: backend InitWait, the guest probes, both sides connect, first command answered. */
    EmulatorFixture connected() throws Exception {
        stub.start();
        frontend.probe();
        if (!frontend.awaitConnected(WAIT)) {
            throw new AssertionError("frontend did not connect; state " + frontend.state());
        }
        frontend.firstResponse().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        return this;
    }

    boolean awaitBackendState(XenbusState state) throws InterruptedException {
        return backendState.await(state, WAIT);
    }

    @Override
    public void close() throws Exception {
        try {
            frontend.close();
            stub.close();
            backendState.close();
        } finally {
            engine.close();
            feStore.close();
            beStore.close();
        }
    }
}
