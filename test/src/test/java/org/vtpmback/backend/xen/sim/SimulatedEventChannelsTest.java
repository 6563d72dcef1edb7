package org.vtpmback.backend.xen.sim;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.xen.XenException;

@Timeout(value = 20, unit = TimeUnit.SECONDS)
class SimulatedEventChannelsTest {
    private static final int DOM0 = 0;
    private static final int GUEST = 7;
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path root;

    private SimulationDirectory directory() {
        return new SimulationDirectory(root);
    }

    /** Counts events and lets the test wait for them without sleeping. */
    private static final class Events {
        final AtomicInteger count = new AtomicInteger();
        final Semaphore arrived = new Semaphore(0);
        final Set<String> threads = ConcurrentHashMap.newKeySet();

        void on(BoundPort port) {
            threads.add(Thread.currentThread().getName());
            count.incrementAndGet();
            arrived.release();
        }

        boolean await() throws InterruptedException {
            return arrived.tryAcquire(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private static long readerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().equals(SimulatedEventChannels.THREAD_NAME))
                .count();
    }

    @Test
    void notificationBeforeBindIsLostAndAfterBindIsDelivered() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            assertFalse(frontend.notifyBackend(), "a send to an unbound port must be dropped");

            Events events = new Events();
            BoundPort port = channels.bind(GUEST, frontend.port(), events::on);
            assertTrue(frontend.isBound());

            // Round trip backend -> frontend: the binding is live, yet nothing arrived for the lost send.
            port.notifyRemote();
            assertTrue(frontend.awaitNotification(WAIT));
            assertEquals(0, events.count.get());

            assertTrue(frontend.notifyBackend());
            assertTrue(events.await());
            assertEquals(1, events.count.get());
            assertEquals(Set.of(SimulatedEventChannels.THREAD_NAME), events.threads);
        }
    }

    @Test
    void unbindRevertsTheFrontendPortSoItCanBeBoundAgain() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            Events first = new Events();
            BoundPort port = channels.bind(GUEST, frontend.port(), first::on);
            port.close();
            port.close(); // idempotent
            assertTrue(frontend.awaitUnbound(WAIT));
            assertFalse(frontend.notifyBackend(), "dropped: nobody is bound");
            assertThrows(IllegalStateException.class, port::notifyRemote);

            Events second = new Events();
            BoundPort again = channels.bind(GUEST, frontend.port(), second::on);
            assertTrue(frontend.notifyBackend());
            assertTrue(second.await());
            again.notifyRemote();
            assertTrue(frontend.awaitNotification(WAIT));
            assertEquals(0, first.count.get());
        }
    }

    @Test
    void restartedBackendCanRebindImmediately() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0)) {
            for (int round = 0; round < 5; round++) {
                Events events = new Events();
                try (var channels = new SimulatedEventChannels(directory(), DOM0)) {
                    channels.bind(GUEST, frontend.port(), events::on); // no wait for the old unbind
                    assertTrue(frontend.notifyBackend());
                    assertTrue(events.await(), "round " + round);
                }
            }
        }
    }

    @Test
    void bindingAPortThatWasNeverAllocatedFails() {
        try (var channels = new SimulatedEventChannels(directory(), DOM0)) {
            var e = assertThrows(XenException.class, () -> channels.bind(GUEST, 33, p -> { }));
            assertTrue(e.getMessage().startsWith(
                    "bind_interdomain(domain 7, port 33) failed: the port was never allocated"), e.getMessage());
        }
    }

    @Test
    void bindingABoundPortFails() {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            channels.bind(GUEST, frontend.port(), p -> { });
            var e = assertThrows(XenException.class, () -> channels.bind(GUEST, frontend.port(), p -> { }));
            assertTrue(e.getMessage().endsWith("failed: the port is already bound"), e.getMessage());
        }
    }

    @Test
    void bindingAPortAllocatedForAnotherDomainFails() {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, 5);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            var e = assertThrows(XenException.class, () -> channels.bind(GUEST, frontend.port(), p -> { }));
            assertTrue(e.getMessage().contains("allocated for another domain, not domain 0"), e.getMessage());
            assertFalse(frontend.isBound());
        }
    }

    @Test
    void notifyingAClosedPeerIsDroppedSilently() {
        try (var channels = new SimulatedEventChannels(directory(), DOM0)) {
            var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
            BoundPort port = channels.bind(GUEST, frontend.port(), p -> { });
            frontend.close();
            for (int i = 0; i < 100; i++) {
                assertDoesNotThrow(port::notifyRemote);
            }
            port.close();
        }
    }

    @Test
    void sixteenPortsShareOneReaderThread() throws InterruptedException {
        List<SimulatedFrontendChannel> frontends = new ArrayList<>();
        Set<String> handlerThreads = ConcurrentHashMap.newKeySet();
        Set<Integer> localPorts = ConcurrentHashMap.newKeySet();
        CountDownLatch all = new CountDownLatch(16);
        var channels = new SimulatedEventChannels(directory(), DOM0);
        try {
            for (int domid = 1; domid <= 16; domid++) {
                var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), domid, DOM0);
                frontends.add(frontend);
                CountDownLatch once = new CountDownLatch(1);
                BoundPort port = channels.bind(domid, frontend.port(), p -> {
                    handlerThreads.add(Thread.currentThread().getName());
                    if (once.getCount() == 1) {
                        once.countDown();
                        all.countDown();
                    }
                });
                localPorts.add(port.localPort());
            }
            assertEquals(16, localPorts.size());
            assertEquals(1, readerThreads());
            frontends.forEach(f -> assertTrue(f.notifyBackend()));
            assertTrue(all.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            assertEquals(Set.of(SimulatedEventChannels.THREAD_NAME), handlerThreads);
            assertEquals(1, readerThreads());
        } finally {
            channels.close();
            frontends.forEach(SimulatedFrontendChannel::close);
        }
        assertEquals(0, readerThreads());
    }

    @Test
    void closeStopsTheThreadAndUnbindsEveryPort() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0)) {
            var channels = new SimulatedEventChannels(directory(), DOM0);
            BoundPort port = channels.bind(GUEST, frontend.port(), p -> { });
            channels.close();
            channels.close(); // idempotent
            assertEquals(0, readerThreads());
            assertTrue(frontend.awaitUnbound(WAIT));
            assertThrows(IllegalStateException.class, port::notifyRemote);
            assertThrows(IllegalStateException.class, () -> channels.bind(GUEST, frontend.port(), p -> { }));
        }
    }

    @Test
    void failingHandlerDoesNotStopDelivery() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            Events events = new Events();
            channels.bind(GUEST, frontend.port(), p -> {
                events.on(p);
                if (events.count.get() == 1) {
                    throw new IllegalStateException("handler bug (expected by the test)");
                }
            });
            assertTrue(frontend.notifyBackend());
            assertTrue(events.await());
            assertTrue(frontend.notifyBackend());
            assertTrue(events.await());
        }
    }

    @Test
    void notificationsWhileTheHandlerRunsArriveAfterItReturns() throws InterruptedException {
        try (var frontend = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
                var channels = new SimulatedEventChannels(directory(), DOM0)) {
            Events events = new Events();
            CountDownLatch inHandler = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            channels.bind(GUEST, frontend.port(), p -> {
                events.on(p);
                inHandler.countDown();
                try {
                    release.await(); // the port is masked while we block here
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(frontend.notifyBackend());
            assertTrue(inHandler.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            for (int i = 0; i < 3; i++) {
                assertTrue(frontend.notifyBackend());
            }
            assertEquals(1, events.count.get());
            release.countDown();
            assertTrue(events.await()); // the first event
            assertTrue(events.await()); // the merged ones, after re-arming
        }
    }

    @Test
    void frontendPortsAreDistinctAndFreedOnClose() {
        var a = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
        var b = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0);
        assertNotEquals(a.port(), b.port());
        int freed = a.port();
        a.close();
        try (var c = SimulatedFrontendChannel.allocateUnbound(directory(), GUEST, DOM0)) {
            assertEquals(freed, c.port());
        } finally {
            b.close();
        }
    }
}
