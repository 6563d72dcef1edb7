package org.vtpmback.test.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.vtpmback.backend.engine.TpmCommands;

/**
 * Runs clients concurrently, one thread each, commands back to back: first {@code warmup} unmeasured
 * commands (JIT, caches, swtpm's first allocations), then all start together and each sends
 * {@code commands} more, timing every one. Only what completed while all clients were still busy is
 * counted, so a client that finishes early does not make the others look faster. Every response must
 * succeed (rc 0): a benchmark of error answers would measure nothing.
 */
final class ClientRun {
    /** A bound on a whole run, so a wedged side ends the benchmark instead of hanging it. */
    private static final long RUN_TIMEOUT_MINUTES = 10;

    private ClientRun() {
    }

    static RunResult run(String label, List<TpmClient> clients, Workload workload, int warmup, int commands)
            throws Exception {
        int n = clients.size();
        long[][] latency = new long[n][commands];
        long[][] done = new long[n][commands];
        AtomicLong start = new AtomicLong();
        CyclicBarrier go = new CyclicBarrier(n, () -> start.set(System.nanoTime()));
        AtomicInteger threadNumber = new AtomicInteger();
        ExecutorService threads = Executors.newFixedThreadPool(n, r -> new Thread(r, "bench-" + label + "-" + threadNumber.getAndIncrement()));
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int c = 0; c < n; c++) {
                int client = c;
                running.add(threads.submit(() -> {
                    try {
                        send(clients.get(client), workload, client, warmup, null, null);
                        go.await(RUN_TIMEOUT_MINUTES, TimeUnit.MINUTES);
                    } catch (Exception e) {
                        go.reset(); // the others stop waiting for a client that will never come
                        throw e;
                    }
                    send(clients.get(client), workload, client, commands, latency[client], done[client]);
                    return null;
                }));
            }
            for (Future<?> f : running) {
                await(f, label);
            }
        } finally {
            threads.shutdownNow();
        }
        return window(n, start.get(), latency, done);
    }

    private static void send(TpmClient client, Workload workload, int c, int count, long[] latency, long[] done)
            throws Exception {
        for (int i = 0; i < count; i++) {
            byte[] command = workload.command(c, i);
            long t0 = System.nanoTime();
            byte[] response = client.transact(command);
            long t1 = System.nanoTime();
            if (response.length < 10 || TpmCommands.rc(response) != 0) {
                throw new IllegalStateException("client " + c + " command " + i + " failed: " + HexFormat.of().formatHex(response));
            }
            if (latency != null) {
                latency[i] = t1 - t0;
                done[i] = t1;
            }
        }
    }

    /** Keeps the commands that completed before the first client finished its share. */
    private static RunResult window(int n, long start, long[][] latency, long[][] done) {
        long end = Long.MAX_VALUE;
        for (long[] d : done) {
            end = Math.min(end, d[d.length - 1]);
        }
        long[] kept = new long[n * latency[0].length];
        int k = 0;
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < done[c].length && done[c][i] <= end; i++) {
                kept[k++] = latency[c][i];
            }
        }
        return new RunResult(n, k, end - start, Arrays.copyOf(kept, k));
    }

    private static void await(Future<?> f, String label) throws Exception {
        try {
            f.get(RUN_TIMEOUT_MINUTES, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw new IllegalStateException(label + ": " + cause.getMessage(), cause);
            }
            throw e;
        }
    }
}
