package org.vtpmback.test.bench;

import java.time.Duration;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.backend.xen.sim.SimulatedFrontendChannel;
import org.vtpmback.backend.xen.sim.SimulationDirectory;

/**
 * A floor for the relay, not a side of a ratio: one simulated event channel whose backend end
 * notifies straight back from its reader thread. A round trip is the guest's notify, the backend
 * reader's wake-up, its notify and the frontend's wake-up: the relay's event-channel cost without
 * the shared page, the daemon's worker hand-off or swtpm. Both ends live in this JVM. The caller
 * closes it.
 */
final class EventChannelEcho implements AutoCloseable {
    /** Any domain the simulated host does not hand out (its guests start at 100). */
    private static final int DOMID = 99;
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** What the client returns per round trip: a 10-byte TPM 2.0 success header. */
    private static final byte[] OK = {(byte) 0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0};

    private final SimulatedFrontendChannel frontend;
    private final SimulatedEventChannels backend;
    private final BoundPort port;

    private EventChannelEcho(SimulatedFrontendChannel frontend, SimulatedEventChannels backend, BoundPort port) {
        this.frontend = frontend;
        this.backend = backend;
        this.port = port;
    }

    static EventChannelEcho open(SimulationDirectory sim) {
        SimulatedFrontendChannel frontend = SimulatedFrontendChannel.allocateUnbound(sim, DOMID, 0);
        SimulatedEventChannels backend = new SimulatedEventChannels(sim, 0);
        try {
            return new EventChannelEcho(frontend, backend, backend.bind(DOMID, frontend.port(), BoundPort::notifyRemote));
        } catch (RuntimeException e) {
            backend.close();
            frontend.close();
            throw e;
        }
    }

    /** Ignores the command: one notification there and back. */
    TpmClient client() {
        return command -> {
            frontend.notifyBackend();
            if (!frontend.awaitNotification(WAIT)) {
                throw new IllegalStateException("no echo on " + port + " within " + WAIT);
            }
            return OK.clone();
        };
    }

    @Override
    public void close() {
        port.close();
        backend.close();
        frontend.close();
    }
}
