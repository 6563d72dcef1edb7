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

    /**
     * A turn taken off the pool (the data path's reader) keeps queued tasks waiting, may pass to another
     * thread, and continues on the pool before anything queued; tasks then run in order, never overlapping.
     */
    @Test
    void aTurnTakenOffThePoolKeepsTheOrderAcrossThreads() throws Exception {
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            SerialExecutor serial = new SerialExecutor(pool, "vtpm-test");
            List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
            assertTrue(serial.tryEnter());
            assertTrue(!serial.tryEnter(), "one turn at a time");
            serial.execute(() -> seen.add("queued"));
            CountDownLatch done = new CountDownLatch(1);
            Thread other = new Thread(() -> serial.continueOnPool(() -> seen.add("rest of the turn")));
            other.start(); // the turn passes to another thread, which hands its rest to the pool
            other.join();
            serial.execute(done::countDown);
            assertTrue(done.await(10, TimeUnit.SECONDS));
            assertEquals(List.of("rest of the turn", "queued"), seen);

            SerialExecutor fresh = new SerialExecutor(pool, "vtpm-test-2");
            assertTrue(fresh.tryEnter());
            fresh.execute(() -> seen.add("after exit"));
            assertEquals(1, fresh.pending(), "waits for the turn");
            CountDownLatch last = new CountDownLatch(1);
            fresh.execute(last::countDown);
            fresh.exit();
            assertTrue(last.await(10, TimeUnit.SECONDS));
            assertEquals("after exit", seen.get(2));
            SerialExecutor idle = new SerialExecutor(pool, "vtpm-test-3");
            assertTrue(idle.tryEnter());
            idle.exit();
            assertTrue(idle.tryEnter(), "an exit with nothing queued leaves it idle at once");
            idle.exit();
        } finally {
            pool.shutdownNow();
        }
    }
}
