package org.vtpmback.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LeaseTimingTest {
    @Test
    void aRequestMayTakeOneKeepAlivePeriodAndAtLeastTwoSeconds() {
        assertEquals(Duration.ofMillis(2500), LeaseTiming.of(Duration.ofSeconds(10)).requestTimeout(), "the default TTL");
        assertEquals(Duration.ofSeconds(2), LeaseTiming.of(Duration.ofSeconds(4)).requestTimeout(), "a short TTL keeps 2 s");
        // the real-Xen test's emulated dom0 (test/e2e): a fresh JVM's first connect took more than 2 s
        assertEquals(Duration.ofSeconds(15), LeaseTiming.of(Duration.ofSeconds(60)).requestTimeout(), "a long TTL");
    }
}
