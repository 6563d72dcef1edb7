package org.vtpmback.test.host;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The wait follows progress: a condition that comes well after the idle window is still waited for
 * while a child process works (as swtpm does during a slow manufacture), a wait with no working child
 * fails after the idle window, and a busy one stops at the cap; each failure says what was last seen.
 */
@Timeout(60)
class ProgressWaitTest {
    private static final Duration IDLE = Duration.ofSeconds(3);

    @Test
    void waitsPastTheIdleWindowWhileAChildWorks() throws Exception {
        Process busy = burnCpu();
        try {
            long start = System.nanoTime();
            ProgressWait.await("slow but working", () -> System.nanoTime() - start > 3 * IDLE.toNanos(), () -> "busy child",
                    IDLE, Duration.ofSeconds(30));
        } finally {
            stop(busy);
        }
    }

    @Test
    void failsAfterTheIdleWindowWhenNothingWorks() {
        long start = System.nanoTime();
        ProgressWait.Stalled stalled = assertThrows(ProgressWait.Stalled.class,
                () -> ProgressWait.await("never", () -> false, () -> "frontend Initialised", IDLE, Duration.ofSeconds(30)));
        assertTrue(System.nanoTime() - start < 10 * IDLE.toNanos(), "gave up after about the idle window");
        assertTrue(stalled.getMessage().startsWith("never: not after "), stalled.getMessage());
        assertTrue(stalled.getMessage().contains("no child process used CPU for 3 s"), stalled.getMessage());
        assertTrue(stalled.getMessage().contains("last seen: frontend Initialised"), stalled.getMessage());
    }

    @Test
    void stopsAtTheCapHoweverBusy() throws Exception {
        Process busy = burnCpu();
        try {
            ProgressWait.Stalled stalled = assertThrows(ProgressWait.Stalled.class,
                    () -> ProgressWait.await("never", () -> false, () -> "x", Duration.ofSeconds(20), Duration.ofSeconds(3)));
            assertTrue(stalled.getMessage().contains("still busy after the cap of 3 s"), stalled.getMessage());
            assertTrue(stalled.getMessage().contains("pid " + busy.pid() + " "), stalled.getMessage());
        } finally {
            stop(busy);
        }
    }

    /** A child that uses CPU (at normal priority: at load 30 on 2 cores it still gets ticks every second). */
    private static Process burnCpu() throws Exception {
        return new ProcessBuilder("sh", "-c", "while :; do :; done").start();
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
    }
}
