package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.service.ServiceManager;

/**
 * The keep-alive gate on its own, with a real reader thread and a real executor: WATCHDOG=1 goes out
 * every half timeout while the reader turns and probes run, and stops when either stalls. (The
 * daemon-level test, ServiceNotifyTest, wedges the real readers; this one also stalls the pool.)
 */
@Timeout(60)
class DaemonWatchdogTest {
    /** Keep-alives every 100 ms. */
    private static final Duration TIMEOUT = Duration.ofMillis(200);

    private final LinkedBlockingQueue<String> sent = new LinkedBlockingQueue<>();
    private final AtomicBoolean readerTurns = new AtomicBoolean(true);
    private final AtomicBoolean poolRuns = new AtomicBoolean(true);
    private volatile boolean stop;
    private final Thread reader = new Thread(this::turn, "test-reader");
    private final Heartbeat heartbeat = new Heartbeat(reader);
    private DaemonWatchdog watchdog;

    private void turn() {
        while (!stop) {
            if (readerTurns.get()) {
                heartbeat.beat();
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private final ServiceManager manager = new ServiceManager() {
        @Override
        public void notify(String state) {
            sent.add(state);
        }

        @Override
        public Optional<Duration> watchdogTimeout() {
            return Optional.of(TIMEOUT);
        }
    };

    private final DaemonWatchdog.Liveness liveness = new DaemonWatchdog.Liveness() {
        @Override
        public List<Heartbeat> readers() {
            return List.of(heartbeat);
        }

        @Override
        public CompletableFuture<Void> probe() {
            // a stalled pool never runs the probe
            return poolRuns.get() ? CompletableFuture.runAsync(() -> { }) : new CompletableFuture<>();
        }
    };

    @AfterEach
    void close() throws InterruptedException {
        stop = true;
        reader.join();
        if (watchdog != null) {
            watchdog.close();
        }
    }

    @Test
    void keepAlivesOnlyWhileTheReaderTurnsAndThePoolRuns() throws Exception {
        reader.start();
        watchdog = DaemonWatchdog.start(manager, liveness).orElseThrow();
        assertTrue(pings(Duration.ofMillis(600)) >= 3, "every 100 ms while all works");

        readerTurns.set(false);
        Thread.sleep(250); // the heartbeat goes stale after one period; a tick in flight may still pass
        assertEquals(0, pings(Duration.ofMillis(500)), "none while the reader does not turn");
        readerTurns.set(true);
        assertTrue(pings(Duration.ofMillis(500)) >= 2, "back once it turns");

        poolRuns.set(false);
        Thread.sleep(250); // the probe queued before the stall still ran
        assertEquals(0, pings(Duration.ofMillis(500)), "none while no probe runs");
    }

    @Test
    void nothingWhereNoWatchdogIsExpected() {
        assertTrue(DaemonWatchdog.start(ServiceManager.NONE, liveness).isEmpty());
    }

    private int pings(Duration during) throws InterruptedException {
        sent.clear();
        int n = 0;
        long end = System.nanoTime() + during.toNanos();
        for (long left = during.toNanos(); left > 0; left = end - System.nanoTime()) {
            String s = sent.poll(left, TimeUnit.NANOSECONDS);
            if ("WATCHDOG=1".equals(s)) {
                n++;
            }
        }
        return n;
    }
}
