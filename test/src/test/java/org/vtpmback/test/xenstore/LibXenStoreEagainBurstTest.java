package org.vtpmback.test.xenstore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/** oxenstored with {@code test-eagain = true} fails commits at random: the retry loop must absorb it. */
@UseXenstored(value = Flavour.OCAML, options = {"test-eagain=true"})
@Timeout(120)
class LibXenStoreEagainBurstTest {
    @Test
    void burstOfCommitsAllLandExactlyOnce(XenstoredDaemon xsd) throws Exception {
        XsPath counter = XsPath.of("/burst/counter");
        int threads = 4;
        int perThread = 50;
        AtomicInteger bodies = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (XenStore setup = LibXenStore.connect(xsd.socket())) {
            setup.write(counter, "0");
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                done.add(pool.submit(() -> {
                    try (XenStore xs = LibXenStore.connect(xsd.socket())) {
                        for (int k = 0; k < perThread; k++) {
                            xs.inTransaction(t -> {
                                bodies.incrementAndGet();
                                int n = Integer.parseInt(t.read(counter).orElseThrow());
                                t.write(counter, Integer.toString(n + 1));
                                return null;
                            });
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            assertEquals(Optional.of(Integer.toString(threads * perThread)), setup.read(counter));
            System.out.printf("eagain burst: %d commits needed %d transaction bodies%n", threads * perThread, bodies.get());
            assertTrue(bodies.get() > threads * perThread, "test-eagain (and contention) forced retries");
        } finally {
            pool.shutdownNow();
        }
    }
}
