package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class StrikesTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final Strikes strikes = new Strikes(4, Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofSeconds(60), now::get);

    @Test
    void firstIsFreeThenWaitsDoubleUpToTheCapAndTheLimitFails() {
        assertEquals(Duration.ZERO, strikes.backoffLeft());
        assertTrue(strikes.strike());
        assertEquals(Duration.ofMillis(100), strikes.backoffLeft());
        advance(100);
        assertEquals(Duration.ZERO, strikes.backoffLeft());
        assertTrue(strikes.strike());
        assertEquals(Duration.ofMillis(200), strikes.backoffLeft());
        advance(200);
        assertTrue(strikes.strike());
        assertEquals(Duration.ofMillis(300), strikes.backoffLeft(), "capped");
        advance(300);
        assertFalse(strikes.strike(), "the fourth strike reaches the limit");
    }

    @Test
    void quietTimeForgivesOneStrikePerPeriod() {
        strikes.strike();
        strikes.strike();
        strikes.strike();
        advance(60_000);
        assertEquals(2, strikes.count());
        advance(120_000);
        assertEquals(0, strikes.count());
        assertEquals(Duration.ZERO, strikes.backoffLeft());
    }

    private void advance(long millis) {
        now.addAndGet(Duration.ofMillis(millis).toNanos());
    }
}
