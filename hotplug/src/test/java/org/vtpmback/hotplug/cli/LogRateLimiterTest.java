package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class LogRateLimiterTest {
    private static final long SECOND = 1_000_000_000L;
    private final LogRateLimiter limiter = new LogRateLimiter(10, 2);
    private final LogRateLimiter.Key flooder = new LogRateLimiter.Key("VtpmDevice", "WARN", "vtpm-7-0");
    private final LogRateLimiter.Key neighbour = new LogRateLimiter.Key("VtpmDevice", "WARN", "vtpm-8-0");

    @Test
    void aBurstThenTheRateAndTheRestIsCountedPerKey() {
        int admitted = 0;
        for (int i = 0; i < 1000; i++) {
            admitted += limiter.admit(flooder, 0) ? 1 : 0;
        }
        assertEquals(10, admitted);
        assertTrue(limiter.admit(neighbour, 0), "another device keeps its own budget");
        assertEquals(List.of(new LogRateLimiter.Suppressed(flooder, 990)), limiter.sweep(0));
        assertEquals(List.of(), limiter.sweep(0), "counts are handed out once");

        assertTrue(limiter.admit(flooder, SECOND));
        assertTrue(limiter.admit(flooder, SECOND));
        assertFalse(limiter.admit(flooder, SECOND), "two a second");
    }

    @Test
    void theTableStaysBoundedWhateverTheKeys() {
        for (int i = 0; i < 3 * LogRateLimiter.MAX_KEYS; i++) {
            limiter.admit(new LogRateLimiter.Key("x", "INFO", "vtpm-worker-" + i), i * SECOND);
            assertTrue(limiter.size() <= LogRateLimiter.MAX_KEYS);
        }
        limiter.sweep(Long.MAX_VALUE / 2);
        assertTrue(limiter.admit(flooder, Long.MAX_VALUE / 2));
    }
}
