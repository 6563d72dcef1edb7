package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class SerialExecutorTest {
    @Test
    void runsInOrderWithoutOverlapOnAWidePool() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            SerialExecutor serial = new SerialExecutor(pool, "vtpm-test");
            List<Integer> seen = new ArrayList<>();
            AtomicInteger inside = new AtomicInteger();
            AtomicInteger overlaps = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            for (int i = 0; i < 2000; i++) {
                int n = i;
                serial.execute(() -> {
                    if (inside.incrementAndGet() != 1) {
                        overlaps.incrementAndGet();
                    }
                    seen.add(n); // unsynchronised on purpose: serial execution makes it safe
                    inside.decrementAndGet();
                });
            }
            serial.execute(done::countDown);
            assertTrue(done.await(20, TimeUnit.SECONDS));
            assertEquals(0, overlaps.get());
            for (int i = 0; i < 2000; i++) {
                assertEquals(i, seen.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFailingTaskDoesNotStopTheNext() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            SerialExecutor serial = new SerialExecutor(pool, "vtpm-test");
            CountDownLatch done = new CountDownLatch(1);
            serial.execute(() -> {
                throw new IllegalStateException("boom (expected by the test)");
            });
            serial.execute(done::countDown);
            assertTrue(done.await(10, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }
}
