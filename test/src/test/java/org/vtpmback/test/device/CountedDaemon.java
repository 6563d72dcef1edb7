package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.vtpmback.test.host.CountingXenStore;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XsPath;

/**
 * The simulated host's daemon on a xenstore connection that counts what it asks ({@link CountingXenStore}), for the
 * tests that count a handshake's or a watch event's requests. Stateless.
 */
final class CountedDaemon {
    private CountedDaemon() {
    }

    /** The host's daemon stopped and started again on a counting connection (no device exists yet). */
    static CountingXenStore restart(SimulatedVtpmHost host) throws Exception {
        AtomicReference<CountingXenStore> counting = new AtomicReference<>();
        host.stopDaemon();
        host.daemonXenstore(xs -> {
            counting.set(new CountingXenStore(xs));
            return counting.get();
        }).startDaemon();
        return counting.get();
    }

    /**
     * Returns once the daemon has handled every watch event queued before the call: a marker's watch on the daemon's
     * connection fires after them (xenstored sends a connection's events in order), then a task on its executor runs
     * after what they queued. The marker is read through the host's connection, so the daemon's counts stay its own.
     */
    static void settle(SimulatedVtpmHost host, CountingXenStore daemonConnection) throws Exception {
        XsPath marker = host.toolstack().backendPath(1, 0).parent().parent().parent().child("counted-daemon-marker");
        String value = UUID.randomUUID().toString();
        CountDownLatch written = new CountDownLatch(1);
        try (Watch w = daemonConnection.watch(marker, p -> {
            if (host.xenstore().read(marker).filter(value::equals).isPresent()) {
                written.countDown();
            }
        })) {
            host.xenstore().write(marker, value);
            assertTrue(written.await(SimulatedVtpmHost.WAIT.toSeconds(), TimeUnit.SECONDS), "the marker's watch event");
        }
        host.daemon().probe().get(SimulatedVtpmHost.WAIT.toSeconds(), TimeUnit.SECONDS);
    }
}
