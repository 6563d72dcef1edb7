package org.vtpmback.test.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.emulator.ToolstackEmulator;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xen.ShutdownReason;

/**
 * A boot storm (issue 13, "Scale"): a host that starts many guests at once, as after its own reboot. The guests'
 * vTPMs exist (they were booted and powered off before), so each boot is the daemon's ordinary connect: swtpm
 * started on the saved state, page mapped, event channel bound. All domains are created at the same moment, one
 * thread each, each on a xenstore connection of its own as each {@code xl} process has: libxl's device add (backend to InitWait, which libxl allows 10 s) and at once the frontend's probe
 * (Initialised to Connected, within the same 10 s for a guest kernel's xenbus probe to find its TPM). Stateless.
 */
final class BootStorm {
    /** Bound on the whole storm, so a wedged daemon ends the benchmark instead of hanging it. */
    private static final long STORM_TIMEOUT_MINUTES = 10;

    /**
     * Milliseconds per guest, in the order of the uuids.
     *
     * @param createMillis  libxl's domain create and device add: domain written to backend InitWait
     * @param connectMillis the frontend's probe: Initialised to the backend's Connected (first command answered)
     * @param domainMillis  of create: the domain's own transaction (/local/domain/N, /libxl/N)
     * @param commitMillis  of create: the device add's transaction (xenstored; EAGAIN retries included)
     * @param initWaitMillis of create: commit to the backend's InitWait (the daemon's reaction)
     * @param commitAttempts of create: times the device add's transaction was started (EAGAIN retries + 1)
     */
    record Times(double[] createMillis, double[] connectMillis, double[] domainMillis, double[] commitMillis,
            double[] initWaitMillis, double[] commitAttempts) {
        static double max(double[] xs) {
            return Arrays.stream(xs).max().orElse(Double.NaN);
        }

        /** Nearest-rank percentile ({@code p} in 0..1), as {@link RunResult} computes it. */
        static double percentile(double[] xs, double p) {
            double[] s = xs.clone();
            Arrays.sort(s);
            return s[Math.max(0, (int) Math.ceil(p * s.length) - 1)];
        }
    }

    private BootStorm() {
    }

    /** Powers off {@code guests} (a few at once) so that their vTPMs are stored and their swtpm stopped. */
    static List<String> powerOff(List<Guest> guests) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> stopping = new ArrayList<>();
            for (Guest g : guests) {
                stopping.add(pool.submit(() -> {
                    g.shutdown(ShutdownReason.POWEROFF);
                    return null;
                }));
            }
            for (Future<?> f : stopping) {
                f.get(STORM_TIMEOUT_MINUTES, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        return guests.stream().map(Guest::uuid).toList();
    }

    /** Creates a domain for each of {@code uuids} at once and probes its frontend at once; returns when all are Connected. */
    static Times run(SimulatedVtpmHost host, List<String> uuids) throws Exception {
        int n = uuids.size();
        double[] create = new double[n];
        double[] connect = new double[n];
        double[] domain = new double[n];
        double[] commit = new double[n];
        double[] initWait = new double[n];
        double[] attempts = new double[n];
        CyclicBarrier go = new CyclicBarrier(n);
        ExecutorService threads = Executors.newFixedThreadPool(n, r -> new Thread(r, "storm"));
        try {
            List<Future<?>> booting = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int k = i;
                booting.add(threads.submit(() -> {
                    long t0;
                    long t1;
                    SimulatedVtpmHost.Created c;
                    // one xl process per domain, each with its own xenstore connection, as on a host
                    try (XenStore xl = host.connectToolstack()) {
                        go.await(STORM_TIMEOUT_MINUTES, TimeUnit.MINUTES);
                        t0 = System.nanoTime();
                        // fails like libxl if InitWait takes over 10 s
                        c = host.createTimed(uuids.get(k), false, new ToolstackEmulator(xl, SimulatedVtpmHost.BACKEND_DOMID));
                        t1 = System.nanoTime();
                    }
                    Guest g = c.guest();
                    domain[k] = c.domain().toNanos() / 1e6;
                    commit[k] = c.deviceAdd().commit().toNanos() / 1e6;
                    initWait[k] = c.deviceAdd().toInitWait().toNanos() / 1e6;
                    attempts[k] = c.deviceAdd().attempts();
                    g.unpause();
                    create[k] = (t1 - t0) / 1e6;
                    connect[k] = (System.nanoTime() - t1) / 1e6;
                    return null;
                }));
            }
            for (Future<?> f : booting) {
                try {
                    f.get(STORM_TIMEOUT_MINUTES, TimeUnit.MINUTES);
                } catch (ExecutionException e) {
                    throw new IllegalStateException("boot storm: a guest did not boot: " + e.getCause(), e.getCause());
                }
            }
        } finally {
            threads.shutdownNow();
        }
        return new Times(create, connect, domain, commit, initWait, attempts);
    }
}
