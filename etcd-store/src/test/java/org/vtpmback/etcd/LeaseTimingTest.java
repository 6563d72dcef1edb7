package org.vtpmback.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LeaseTimingTest {
    @Test
    void oneMemberGetsAKeepAlivePeriodSeveralGetTwoSecondsEach() {
        assertEquals(Duration.ofMillis(2500), LeaseTiming.of(Duration.ofSeconds(10)).requestTimeout(1), "default TTL, 1 member");
        assertEquals(Duration.ofSeconds(2), LeaseTiming.of(Duration.ofSeconds(10)).requestTimeout(3), "default TTL, 3 members");
        assertEquals(Duration.ofSeconds(2), LeaseTiming.of(Duration.ofSeconds(30)).requestTimeout(3), "TTL 30 s, 3 members");
        assertEquals(Duration.ofSeconds(2), LeaseTiming.of(Duration.ofSeconds(4)).requestTimeout(1), "a short TTL keeps 2 s");
        // the real-Xen test's emulated dom0 (test/e2e): a fresh JVM's first connect took more than 2 s
        assertEquals(Duration.ofSeconds(15), LeaseTiming.of(Duration.ofSeconds(60)).requestTimeout(1), "TTL 60 s, 1 member");
    }
}
