package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;

/**
 * The scale benchmark of {@code scripts/bench.sh --scale} (issue 13, "Scale"): one {@code vtpmback daemon}
 * (another process, host = simulated, real xenstored and swtpm) takes guests in steps up to {@code --guests}
 * (default 256), booted through the emulated libxl and Linux frontends, each with a vTPM of its own. At 0 guests
 * and after each step it prints the daemon's RSS and thread count ({@code SCALE} lines, threads by name), the
 * threads it gains per guest between the first step and the last, and its CPU time over {@code --idle-seconds} with
 * no guest and with all of them attached and idle. Then a boot storm: {@code --storm} of the guests (default 64)
 * are powered off and all created again at the same moment ({@code STORM}: each one's device add to InitWait and
 * Initialised to Connected, median, p99 and max against libxl's 10 s; {@code STORM split}: the create's parts, the
 * domain's transaction, the device add's commit and the daemon's reaction, commit to InitWait). {@code GOAL} lines set each figure beside
 * its target. Not a test: it asserts nothing about times, and fails only if a guest cannot boot or a command fails.
 */
public final class ScaleBenchmark {
    static final String USAGE = """
            usage: ScaleBenchmark --xenstored SOCKET --sim DIR --work DIR --daemon-pid PID [--quick] [options]
              --guests N         guests attached at the end, in steps of N/4, N/2, N (default 256; quick 32)
              --storm N          guests of the boot storm, N <= --guests (default 64; quick 16)
              --idle-seconds S   the idle CPU window, with no guest and with all (default 10; quick 5)""";
    /** libxl's wait for the backend's InitWait; a guest kernel's xenbus probe gives its devices about as long. */
    private static final double LIBXL_LIMIT_MS = 10_000;
    /** Commands each new guest sends after its boot, so that every vTPM has been used before it is counted. */
    private static final int COMMANDS_PER_GUEST = 3;
    /** Issue 13's targets: RSS at 256 guests, threads per guest ("independent of the number of guests"), idle CPU. */
    private static final double RSS_TARGET_MIB = 200;
    private static final double THREADS_PER_GUEST_TARGET = 0.05;
    private static final double IDLE_ADDED_TARGET_MS_PER_S = 1;
    /** What counts as a quiet daemon before an idle window, and how long to wait for it. */
    private static final double QUIET_MS_PER_S = 10;
    private static final int SETTLE_SECONDS = 180;
    /** The daemon's worker threads (VtpmDaemon's pool), as {@link DaemonStatus} groups their names. */
    private static final String WORKER = "vtpm-worker-N";

    private final Path xenstored;
    private final Path sim;
    private final Path work;
    private final long daemonPid;
    private final int guests;
    private final int storm;
    private final int idleSeconds;
    private final BenchReport report = new BenchReport(System.out);

    private ScaleBenchmark(BenchArgs a) {
        this.xenstored = Path.of(a.get("xenstored"));
        this.sim = Path.of(a.get("sim"));
        this.work = Path.of(a.get("work"));
        this.daemonPid = Long.parseLong(a.get("daemon-pid"));
        this.guests = Integer.parseInt(a.get("guests", "32", "256"));
        this.storm = Integer.parseInt(a.get("storm", "16", "64"));
        this.idleSeconds = Integer.parseInt(a.get("idle-seconds", "5", "10"));
        if (guests < 4 || storm < 1 || storm > guests || idleSeconds < 1) {
            throw new IllegalArgumentException("wants --guests >= 4, 1 <= --storm <= --guests, --idle-seconds >= 1");
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs given = BenchArgs.parse(args, USAGE, List.of("xenstored", "sim", "work", "daemon-pid"));
        ScaleBenchmark bench;
        try {
            bench = new ScaleBenchmark(given);
        } catch (IllegalArgumentException e) {
            System.err.println("bench: " + e.getMessage() + "\n" + USAGE);
            System.exit(2);
            return;
        }
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        bench.run();
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "== vtpmback scale benchmark, %s%n   machine: %d cores, load %s; %d guests in steps, idle window"
                + " %d s, boot storm of %d%n", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME),
                Runtime.getRuntime().availableProcessors(), BenchReport.loadAverage(), guests, idleSeconds, storm);
        settle();
        DaemonStatus none = sample(0, 0);
        double idleNone = idle(0);
        Map<Integer, DaemonStatus> at = new java.util.TreeMap<>();
        try (SimulatedVtpmHost host = new SimulatedVtpmHost(xenstored, Files.createDirectories(work), sim)) {
            List<Guest> booted = new ArrayList<>();
            for (int step : new TreeSet<>(List.of(guests / 4, guests / 2, guests))) {
                long t0 = System.nanoTime();
                List<Guest> added = host.bootMany(step - booted.size());
                double bootSeconds = (System.nanoTime() - t0) / 1e9;
                exercise(added);
                booted.addAll(added);
                settle();
                at.put(step, sample(step, bootSeconds));
            }
            double idleAll = idle(guests);
            int first = guests / 4;
            double slope = (double) (at.get(guests).threads() - at.get(first).threads()) / (guests - first);
            System.out.printf(Locale.ROOT, "SCALE threads_per_guest=%.3f threads %d at 0 guests, %d at %d, %d at %d%n", slope,
                    none.threads(), at.get(first).threads(), first, at.get(guests).threads(), guests);
            BootStorm.Times t = storm(host, booted.subList(0, storm));
            settle();
            sample(guests, 0);
            String n = "scale-x" + guests;
            System.out.println();
            report.goal(n, "daemon_rss_mib", at.get(guests).rssMib(), "<=", RSS_TARGET_MIB, at.get(guests).rssMib() <= RSS_TARGET_MIB);
            report.goal(n, "daemon_threads_per_guest", slope, "<=", THREADS_PER_GUEST_TARGET, slope <= THREADS_PER_GUEST_TARGET);
            double added = idleAll - idleNone;
            report.goal(n, "idle_daemon_cpu_ms_per_s_added", added, "<=", IDLE_ADDED_TARGET_MS_PER_S, added <= IDLE_ADDED_TARGET_MS_PER_S);
            double connectMax = BootStorm.Times.max(t.connectMillis());
            // libxl's 10 s run from its transaction's commit (libxl__wait_device_connection), so they bound the daemon's
            // reaction, not the create: the domain's and the device's transactions are xenstored's and the toolstack's.
            double initWaitMax = BootStorm.Times.max(t.initWaitMillis());
            report.goal("storm-x" + storm, "connect_max_ms", connectMax, "<=", LIBXL_LIMIT_MS, connectMax <= LIBXL_LIMIT_MS);
            report.goal("storm-x" + storm, "initwait_max_ms", initWaitMax, "<=", LIBXL_LIMIT_MS, initWaitMax <= LIBXL_LIMIT_MS);
        }
        System.out.printf(Locale.ROOT, "%n   load at the end: %s%n", BenchReport.loadAverage());
    }

    /** Prints and returns the daemon's RSS, threads and swtpm processes now, with {@code guests} attached. */
    private DaemonStatus sample(int guestCount, double bootSeconds) {
        DaemonStatus s = DaemonStatus.of(daemonPid);
        System.out.printf(Locale.ROOT, "SCALE guests=%d daemon_rss_mib=%.1f daemon_threads=%d swtpm_processes=%d boot_s=%.1f"
                + " threads_by_name: %s%n", guestCount, s.rssMib(), s.threads(), ProcessCpu.swtpmDescendants(daemonPid).size(),
                bootSeconds, s.topNames(6));
        return s;
    }

    /**
     * The daemon's CPU time (every thread's schedstat: nanoseconds, not /proc's 10 ms ticks) over the idle window, in
     * milliseconds per second, without its background threads ({@link ThreadCpu#BACKGROUND}: the JIT compiles in bursts
     * long after the daemon seemed quiet, and that is no guest's cost), printed with those, its swtpm processes' and
     * the busiest daemon threads.
     */
    private double idle(int guestCount) throws InterruptedException {
        List<Long> swtpm = ProcessCpu.swtpmDescendants(daemonPid);
        ThreadCpu before = ThreadCpu.of(daemonPid);
        long swtpmBefore = ProcessCpu.schedNanos(swtpm);
        Thread.sleep(idleSeconds * 1000L);
        long swtpmNanos = ProcessCpu.schedNanos(swtpm) - swtpmBefore;
        Map<String, long[]> threads = ThreadCpu.of(daemonPid).since(before);
        long background = threads.entrySet().stream().filter(e -> ThreadCpu.BACKGROUND.matcher(e.getKey()).matches())
                .mapToLong(e -> e.getValue()[ThreadCpu.NANOS]).sum();
        long nanos = threads.values().stream().mapToLong(d -> d[ThreadCpu.NANOS]).sum() - background;
        double msPerSecond = nanos / 1e6 / idleSeconds;
        System.out.printf(Locale.ROOT, "SCALE idle guests=%d seconds=%d daemon_cpu_ms=%.1f daemon_cpu_ms_per_s=%.2f"
                + " daemon_background_ms=%.1f swtpm_cpu_ms=%.1f busiest: %s%n", guestCount, idleSeconds, nanos / 1e6, msPerSecond,
                background / 1e6, swtpmNanos / 1e6,
                threads.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[ThreadCpu.NANOS], a.getValue()[ThreadCpu.NANOS]))
                        .limit(4).map(e -> String.format(Locale.ROOT, "%s=%.1fms", e.getKey().replace(' ', '_'),
                                e.getValue()[ThreadCpu.NANOS] / 1e6)).collect(java.util.stream.Collectors.joining(" ")));
        return msPerSecond;
    }

    /**
     * Waits until the daemon is quiet (at most {@value #QUIET_MS_PER_S} ms of CPU in a second; at most
     * {@value #SETTLE_SECONDS} s) and its worker pool empty: after a start or new guests it refills its pool of
     * ready-made TPMs (a key generation each) and its JIT compiles, which is neither idle nor the guests' cost, and
     * its workers live only while devices have work (30 s after the last), so counting them would count a burst.
     */
    private void settle() throws InterruptedException {
        long t0 = System.nanoTime();
        double last = Double.NaN;
        for (int s = 0; s < SETTLE_SECONDS; s++) {
            ThreadCpu before = ThreadCpu.of(daemonPid);
            Thread.sleep(1000);
            last = cpuSince(before) / 1e6;
            if (last <= QUIET_MS_PER_S && !DaemonStatus.of(daemonPid).byName().containsKey(WORKER)) {
                report.note(String.format(Locale.ROOT, "daemon quiet after %.0f s (%.1f ms of CPU in the last second)",
                        (System.nanoTime() - t0) / 1e9, last));
                return;
            }
        }
        report.note(String.format(Locale.ROOT, "WARNING: the daemon was not quiet within %d s (%.1f ms of CPU in the last second,"
                + " %s): the figures include that work", SETTLE_SECONDS, last, DaemonStatus.of(daemonPid).topNames(3)));
    }

    /** The daemon's CPU time since {@code before}, in ns: threads that ended meanwhile (idle workers) took theirs along. */
    private long cpuSince(ThreadCpu before) {
        return ThreadCpu.of(daemonPid).since(before).values().stream().mapToLong(v -> v[ThreadCpu.NANOS]).sum();
    }

    /** Powers off {@code stormGuests}, then boots them all at once and prints the STORM line. */
    private BootStorm.Times storm(SimulatedVtpmHost host, List<Guest> stormGuests) throws Exception {
        List<String> uuids = BootStorm.powerOff(stormGuests);
        long t0 = System.nanoTime();
        BootStorm.Times t = BootStorm.run(host, uuids);
        double wall = (System.nanoTime() - t0) / 1e9;
        double[] create = t.createMillis();
        double[] connect = t.connectMillis();
        System.out.printf(Locale.ROOT, "STORM guests=%d vtpm=existing create_median_ms=%.0f create_p99_ms=%.0f create_max_ms=%.0f"
                + " connect_median_ms=%.0f connect_p99_ms=%.0f connect_max_ms=%.0f libxl_limit_ms=%.0f wall_s=%.1f%n", uuids.size(),
                BootStorm.Times.percentile(create, 0.5), BootStorm.Times.percentile(create, 0.99), BootStorm.Times.max(create),
                BootStorm.Times.percentile(connect, 0.5), BootStorm.Times.percentile(connect, 0.99), BootStorm.Times.max(connect),
                LIBXL_LIMIT_MS, wall);
        // Where a device add's time goes: the toolstack's two transactions (xenstored) or the daemon's reaction.
        System.out.printf(Locale.ROOT, "STORM split guests=%d %s %s %s commit_attempts_median=%.0f commit_attempts_max=%.0f%n",
                uuids.size(), quantiles("domain", t.domainMillis()), quantiles("commit", t.commitMillis()),
                quantiles("initwait", t.initWaitMillis()), BootStorm.Times.percentile(t.commitAttempts(), 0.5),
                BootStorm.Times.max(t.commitAttempts()));
        return t;
    }

    private static String quantiles(String name, double[] ms) {
        return String.format(Locale.ROOT, "%1$s_median_ms=%2$.0f %1$s_p99_ms=%3$.0f %1$s_max_ms=%4$.0f", name,
                BootStorm.Times.percentile(ms, 0.5), BootStorm.Times.percentile(ms, 0.99), BootStorm.Times.max(ms));
    }

    /** A few commands in each guest: its vTPM serves, its swtpm runs. */
    private static void exercise(List<Guest> added) throws Exception {
        for (Guest g : added) {
            for (int i = 0; i < COMMANDS_PER_GUEST; i++) {
                g.transmit(Workload.MIX.command(0, i));
            }
        }
    }
}
