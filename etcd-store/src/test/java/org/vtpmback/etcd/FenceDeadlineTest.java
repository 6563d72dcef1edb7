package org.vtpmback.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The self-fencing arithmetic: send + TTL - margin of the last acknowledged request, on the monotonic clock. */
class FenceDeadlineTest {
    private static final long S = 1_000_000_000L;

    @Test
    void theDeadlineCountsFromTheSendOfTheLastAcknowledgedRequest() {
        FenceDeadline d = new FenceDeadline(100 * S, 10, 2 * S);
        assertEquals(8 * S, d.remaining(100 * S), "grant sent at 100 s, TTL 10 s, margin 2 s: fenced at 108 s");
        d.renewed(103 * S, 10);
        assertEquals(S, d.remaining(110 * S), "keep-alive sent at 103 s: fenced at 111 s");
    }

    @Test
    void anAnswerToAnOlderRequestDoesNotMoveIt() {
        FenceDeadline d = new FenceDeadline(0, 10, 2 * S);
        d.renewed(5 * S, 10);
        d.renewed(4 * S, 10);
        assertEquals(13 * S, d.remaining(0));
    }

    @Test
    void aShorterAnsweredTtlMovesItEarlier() {
        FenceDeadline d = new FenceDeadline(0, 10, 2 * S);
        d.renewed(S, 3);
        assertEquals(2 * S, d.remaining(0), "etcd's expiry is now receive + 3 s, before the old deadline");
    }

    @Test
    void itWorksAcrossTheWrapOfNanoTime() {
        long nearWrap = Long.MAX_VALUE - S;
        FenceDeadline d = new FenceDeadline(nearWrap, 10, 2 * S);
        assertEquals(8 * S, d.remaining(nearWrap));
        d.renewed(nearWrap + 2 * S, 10); // overflows to negative: still later
        assertEquals(8 * S, d.remaining(nearWrap + 2 * S));
    }

    @Test
    void timingsThatCannotFenceInTimeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> LeaseTiming.of(Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> LeaseTiming.of(Duration.ofMillis(2500)));
        assertThrows(IllegalArgumentException.class,
                () -> new LeaseTiming(Duration.ofSeconds(4), Duration.ofSeconds(4), Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class,
                () -> new LeaseTiming(Duration.ofSeconds(4), Duration.ofSeconds(1), Duration.ofSeconds(2)));
        LeaseTiming t = LeaseTiming.of(Duration.ofSeconds(8));
        assertEquals(Duration.ofSeconds(2), t.margin());
        assertEquals(Duration.ofSeconds(2), t.keepAliveEvery());
    }
}
