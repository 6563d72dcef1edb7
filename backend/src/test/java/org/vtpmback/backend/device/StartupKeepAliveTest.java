package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.service.ServiceManager;

/**
 * A reload successor's keep-alives between the hand-over and readiness: WATCHDOG=1 at once and every half
 * timeout, none after close, none after the bound (a hung take-over must still be killed), and nothing at
 * all without a watchdog. Counts and presence, no timing thresholds beyond generous waits.
 */
@Timeout(60)
class StartupKeepAliveTest {
    /** Keep-alives every 100 ms. */
    private static final Duration TIMEOUT = Duration.ofMillis(200);

    private final LinkedBlockingQueue<String> sent = new LinkedBlockingQueue<>();

    private ServiceManager manager(Optional<Duration> watchdog) {
        return new ServiceManager() {
            @Override
            public void notify(String state) {
                sent.add(state);
            }

            @Override
            public Optional<Duration> watchdogTimeout() {
                return watchdog;
            }
        };
    }

    @Test
    void pingsUntilClosed() throws InterruptedException {
        StartupKeepAlive keepAlive = StartupKeepAlive.start(manager(Optional.of(TIMEOUT)), Duration.ofMinutes(5)).orElseThrow();
        try {
            for (int i = 0; i < 3; i++) {
                assertEquals("WATCHDOG=1", sent.poll(10, TimeUnit.SECONDS), "keep-alive " + i);
            }
        } finally {
            keepAlive.close();
        }
        Thread.sleep(TIMEOUT.toMillis()); // a tick already running may still land
        sent.clear();
        assertNull(sent.poll(TIMEOUT.toMillis() * 3, TimeUnit.MILLISECONDS), "no keep-alive after close");
    }

    @Test
    void stopsAtTheBound() throws InterruptedException {
        try (StartupKeepAlive keepAlive = StartupKeepAlive.start(manager(Optional.of(TIMEOUT)), Duration.ofMillis(300)).orElseThrow()) {
            assertNotNull(sent.poll(10, TimeUnit.SECONDS), "a first keep-alive");
            Thread.sleep(1000); // well past the bound
            sent.clear();
            assertNull(sent.poll(TIMEOUT.toMillis() * 3, TimeUnit.MILLISECONDS), "no keep-alive once the bound has passed");
        }
    }

    @Test
    void nothingWithoutAWatchdog() {
        assertTrue(StartupKeepAlive.start(manager(Optional.empty()), Duration.ofMinutes(5)).isEmpty());
    }
}
