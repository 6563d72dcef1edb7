package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.test.etcd.EtcdCluster;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xen.ShutdownReason;

/**
 * The pool benchmark of {@code scripts/bench.sh --pool} (issue 14, "Figures"): what {@code store = etcd} costs against
 * the local store, as ratios measured in the same run on the same machine: NV_Write latency and throughput (one guest,
 * one command in flight, each answered only after its checkpoint is committed), the connect time of an existing vTPM
 * (a reboot: frontend Initialised to backend Connected) and the resume time (a restore marked the documented way), each
 * on a {@code vtpmback daemon} process of its own (host = simulated, real xenstored and swtpm). Then the failover time
 * after a host's death: host A's daemon and swtpm SIGKILLed under the guest, host B (its own daemon and xenstored,
 * already running) re-creates the guest at once and waits for A's lease to expire: from the kill to B's Connected.
 *
 * <p>The etcd cluster (3 members on loopback, Debian's etcd-server) keeps its data in the work folder, on the same file
 * system as the daemons' state-dir: a member on a tmpfs would make etcd's fsync free and the ratio unfair. Nothing is
 * asserted about times.
 */
public final class PoolBenchmark {
    private static final String HOST_A = "host-a";
    private static final String HOST_B = "host-b";

    private final Path work;
    private final Path runtime;
    private final int rounds;
    private final int nvWarmup;
    private final int nvCommands;
    private final int failovers;
    private final int leaseTtl;

    private PoolBenchmark(Path work, Path runtime, int rounds, int nvWarmup, int nvCommands, int failovers, int leaseTtl) {
        this.work = work;
        this.runtime = runtime;
        this.rounds = rounds;
        this.nvWarmup = nvWarmup;
        this.nvCommands = nvCommands;
        this.failovers = failovers;
        this.leaseTtl = leaseTtl;
    }

    static final String USAGE = """
            usage: PoolBenchmark --work DIR --runtime DIR [--quick] [--rounds N] [--nv-commands N] [--nv-warmup N]
                                 [--failovers N] [--lease-ttl S]
              --work DIR          daemons' state and etcd's data (a disk), --runtime DIR swtpm folders (a tmpfs; short)
              --rounds N          measured connects and resumes per store (default 9; quick 3)
              --nv-commands N     measured NV_Writes per store (default 1000; quick 200), after --nv-warmup (default 200)
              --failovers N       host deaths measured (default 3; quick 1)
              --lease-ttl S       etcd-lease-ttl of the pool's daemons (default 10, the daemon's default)""";

    public static void main(String[] args) throws Exception {
        BenchArgs a = BenchArgs.parse(args, USAGE, List.of("work", "runtime"));
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        new PoolBenchmark(Path.of(a.get("work")), Path.of(a.get("runtime")),
                Integer.parseInt(a.get("rounds", "3", "9")),
                Integer.parseInt(a.get("nv-warmup", "200", "200")),
                Integer.parseInt(a.get("nv-commands", "200", "1000")),
                Integer.parseInt(a.get("failovers", "1", "3")),
                Integer.parseInt(a.get("lease-ttl", "10", "10"))).run();
        System.exit(0); // the cluster's reaper hook and the daemons are closed; no stray non-daemon thread may hold the JVM
    }

    /** One store's figures: NV_Write latencies (ns) and their wall time, connect and resume waits (ms). */
    record Side(String store, List<Long> nvNanos, long nvWallNanos, List<Double> connects, List<Double> resumes) {
        double nvThroughput() {
            return nvNanos.size() / (nvWallNanos / 1e9);
        }

        double nvQuantileMicros(double q) {
            List<Long> s = nvNanos.stream().sorted().toList();
            return s.get((int) Math.min(s.size() - 1, Math.floor(q * s.size()))) / 1e3;
        }
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "== vtpmback pool benchmark (store = etcd against store = local), %s%n   machine: %d cores,"
                + " load %s; %d NV_Writes (after %d unmeasured), %d connects and %d resumes per store; %d failovers with"
                + " etcd-lease-ttl = %d%n", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME),
                Runtime.getRuntime().availableProcessors(), BenchReport.loadAverage(), nvCommands,
                nvWarmup, rounds, rounds, failovers, leaseTtl);
        Path etcdDir = Files.createTempDirectory(Files.createDirectories(work), "etcd-"); // a fresh cluster each run
        try (EtcdCluster etcd = EtcdCluster.start(etcdDir, 3, false);
             XenstoredDaemon xsA = XenstoredDaemon.start(XenstoredDaemon.Flavour.C, work.resolve("xsa"), Map.of());
             XenstoredDaemon xsB = XenstoredDaemon.start(XenstoredDaemon.Flavour.C, work.resolve("xsb"), Map.of())) {
            System.out.println("   etcd: 3 members, data in " + etcdDir + " (the daemons' state-dir's file system)");
            Side local = measure("local", xsA, List.of());
            Side pooled = measure("etcd", xsA, poolSettings(etcd, HOST_A, "/bench-store"));
            List<Double> failoverMillis = failovers(etcd, xsB);
            report(local, pooled, failoverMillis);
        }
    }

    private List<String> poolSettings(EtcdCluster etcd, String host, String prefix) {
        return List.of("store=etcd", "etcd-endpoints=" + etcd.clientUrls().stream().map(Object::toString)
                .collect(Collectors.joining(",")), "etcd-prefix=" + prefix, "etcd-lease-ttl=" + leaseTtl, "pool-host-id=" + host);
    }

    /** A daemon of its own for {@code name}, with a master key (the pool's daemons refuse to make one). */
    private DaemonProcess daemon(String name, XenstoredDaemon xs, List<String> extra, Path poolKey) throws Exception {
        Path dir = work.resolve(name);
        Path state = Files.createDirectories(dir.resolve("daemon/state"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx------")));
        if (!Files.exists(state.resolve("master.key"))) {
            if (!Files.exists(poolKey)) {
                MasterKey.create(poolKey);
            }
            Files.copy(poolKey, state.resolve("master.key"), java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
        List<String> settings = new ArrayList<>(List.of("default-tpm-family=2.0", "swtpm-jail=no",
                "runtime-dir=" + runtime.resolve(name)));
        settings.addAll(extra);
        return DaemonProcess.start(xs.socket(), sim(name), dir.resolve("daemon"), settings.toArray(String[]::new));
    }

    private Path sim(String name) throws Exception {
        return Files.createDirectories(runtime.resolve(name + "-sim"));
    }

    private Side measure(String store, XenstoredDaemon xs, List<String> settings) throws Exception {
        System.out.printf(Locale.ROOT, "%n-- store = %s%n", store);
        String name = store.substring(0, 1);
        try (DaemonProcess daemon = daemon(name, xs, settings, work.resolve("pool.key"));
             SimulatedVtpmHost host = new SimulatedVtpmHost(xs.socket(), Files.createDirectories(work.resolve(name + "-guests")),
                     sim(name))) {
            Guest g = host.boot(UUID.randomUUID().toString());
            expectSuccess("NV_DefineSpace", g.transmit(Workload.nvSetup()));
            for (int i = 0; i < nvWarmup; i++) {
                expectSuccess("NV_Write", g.transmit(Workload.NV_WRITE.command(0, i)));
            }
            List<Long> nanos = new ArrayList<>();
            long w0 = System.nanoTime();
            for (int i = 0; i < nvCommands; i++) {
                long t0 = System.nanoTime();
                byte[] answer = g.transmit(Workload.NV_WRITE.command(0, nvWarmup + i));
                nanos.add(System.nanoTime() - t0);
                expectSuccess("NV_Write", answer);
            }
            long wall = System.nanoTime() - w0;
            System.out.printf(Locale.ROOT, "   %d NV_Writes in %.0f ms%n", nvCommands, wall / 1e6);
            for (int i = 0; i < 2; i++) { // warm both paths, unmeasured
                g = reboot(host, g);
                g = resume(host, g);
            }
            List<Double> connects = new ArrayList<>();
            List<Double> resumes = new ArrayList<>();
            for (int round = 1; round <= rounds; round++) {
                g.shutdown(ShutdownReason.REBOOT);
                g = host.create(g.uuid(), false);
                connects.add(timedProbe(g));
                g.suspend();
                g = host.create(g.uuid(), true);
                resumes.add(timedProbe(g));
                System.out.printf(Locale.ROOT, "   round %d  connect %6.0f ms   resume %6.0f ms%n", round,
                        connects.get(connects.size() - 1), resumes.get(resumes.size() - 1));
            }
            return new Side(store, nanos, wall, connects, resumes);
        }
    }

    private static Guest reboot(SimulatedVtpmHost host, Guest g) throws Exception {
        g.shutdown(ShutdownReason.REBOOT);
        return host.boot(g.uuid());
    }

    private static Guest resume(SimulatedVtpmHost host, Guest g) throws Exception {
        g.suspend();
        return host.boot(g.uuid(), true);
    }

    /**
     * Host A dies under a running guest (daemon and swtpm SIGKILLed, no teardown); host B, already serving, re-creates
     * the guest at once (as an HA toolstack would) and waits for A's lease: milliseconds from the kill to B's Connected.
     */
    private List<Double> failovers(EtcdCluster etcd, XenstoredDaemon xsB) throws Exception {
        System.out.printf(Locale.ROOT, "%n-- failover: host A killed, host B takes over (etcd-lease-ttl = %d)%n", leaseTtl);
        List<Double> millis = new ArrayList<>();
        Path poolKey = work.resolve("pool.key");
        try (DaemonProcess b = daemon(HOST_B, xsB, poolSettings(etcd, HOST_B, "/bench-failover"), poolKey);
             SimulatedVtpmHost hostB = new SimulatedVtpmHost(xsB.socket(), Files.createDirectories(work.resolve("b-guests")),
                     sim(HOST_B))) {
            for (int round = 1; round <= failovers; round++) {
                String uuid = UUID.randomUUID().toString();
                double ms;
                // host A on a xenstored of its own each round: a dead host's domains must not reach the next round's daemon
                try (XenstoredDaemon xsA = XenstoredDaemon.start(XenstoredDaemon.Flavour.C, work.resolve("xsa" + round), Map.of());
                     DaemonProcess a = daemon(HOST_A + round, xsA, poolSettings(etcd, HOST_A, "/bench-failover"), poolKey);
                     SimulatedVtpmHost hostA = new SimulatedVtpmHost(xsA.socket(),
                             Files.createDirectories(work.resolve("a" + round + "-guests")), sim(HOST_A + round))) {
                    Guest ga = hostA.boot(uuid);
                    expectSuccess("NV_DefineSpace", ga.transmit(Workload.nvSetup()));
                    expectSuccess("NV_Write", ga.transmit(Workload.NV_WRITE.command(0, 1)));
                    long swtpm = Long.parseLong(Files.readString(runtime.resolve(HOST_A + round + "/instances/" + uuid
                            + "/swtpm.pid")).strip());
                    a.kill();
                    ProcessHandle.of(swtpm).ifPresent(ProcessHandle::destroyForcibly);
                    long t0 = System.nanoTime();
                    Guest gb = hostB.boot(uuid);
                    ms = (System.nanoTime() - t0) / 1e6;
                    gb.destroy();
                }
                millis.add(ms);
                System.out.printf(Locale.ROOT, "   round %d  failover %6.0f ms%n", round, ms);
            }
        }
        return millis;
    }

    /** The domain exists, its backend in InitWait: the frontend probes; milliseconds until it is Connected. */
    private static double timedProbe(Guest g) throws Exception {
        long t0 = System.nanoTime();
        g.unpause();
        return (System.nanoTime() - t0) / 1e6;
    }

    private void report(Side local, Side etcd, List<Double> failoverMillis) {
        System.out.printf(Locale.ROOT, "%n== results (one guest, one command in flight; ratio = etcd / local)%n");
        for (Side s : List.of(local, etcd)) {
            System.out.printf(Locale.ROOT, "POOL nv_write store=%s p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f"
                    + " throughput_per_s=%.0f%n", s.store(), s.nvQuantileMicros(0.5), s.nvQuantileMicros(0.9),
                    s.nvQuantileMicros(0.99), s.nvQuantileMicros(1.0), s.nvThroughput());
            System.out.printf(Locale.ROOT, "POOL connect store=%s median_ms=%.0f min_ms=%.0f max_ms=%.0f%n", s.store(),
                    FirstStartBenchmark.median(s.connects()), min(s.connects()), max(s.connects()));
            System.out.printf(Locale.ROOT, "POOL resume store=%s median_ms=%.0f min_ms=%.0f max_ms=%.0f%n", s.store(),
                    FirstStartBenchmark.median(s.resumes()), min(s.resumes()), max(s.resumes()));
        }
        System.out.printf(Locale.ROOT, "POOL ratio nv_write_p50=%.2f nv_write_p99=%.2f nv_write_throughput=%.2f connect=%.2f"
                + " resume=%.2f%n", etcd.nvQuantileMicros(0.5) / local.nvQuantileMicros(0.5),
                etcd.nvQuantileMicros(0.99) / local.nvQuantileMicros(0.99), etcd.nvThroughput() / local.nvThroughput(),
                FirstStartBenchmark.median(etcd.connects()) / FirstStartBenchmark.median(local.connects()),
                FirstStartBenchmark.median(etcd.resumes()) / FirstStartBenchmark.median(local.resumes()));
        System.out.printf(Locale.ROOT, "POOL failover lease_ttl_s=%d median_ms=%.0f min_ms=%.0f max_ms=%.0f rounds=%d"
                + " (from the kill of host A to the guest's Connected on host B; the TTL runs from A's last keep-alive,"
                + " one every TTL/4, so expect TTL - TTL/4 .. TTL, plus B's 200 ms poll and the start)%n", leaseTtl,
                FirstStartBenchmark.median(failoverMillis), min(failoverMillis), max(failoverMillis), failoverMillis.size());
    }

    private static void expectSuccess(String what, byte[] answer) {
        int rc = answer.length >= 10 ? java.nio.ByteBuffer.wrap(answer, 6, 4).getInt() : -1;
        if (rc != 0) {
            throw new IllegalStateException(what + " answered rc 0x" + Integer.toHexString(rc));
        }
    }

    private static double min(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    private static double max(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
