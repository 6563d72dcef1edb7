package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The benchmark's regression guard for CI ({@code scripts/bench.sh --guard}, issue 13): one guest's command mix,
 * raw swtpm and the relay alternating, and two ratios measured in the same run held against generous bounds. It
 * fails (exit 1) only if a ratio is worse than its bound, never on an absolute time, so a slow or busy machine
 * does not fail it:
 * <ul>
 *   <li>the daemon's CPU per relayed command at most {@code --cpu-bound} (3) times the CPU its swtpm spends on the
 *   same command (the relay's swtpm: same commands, same wake-ups from its client);</li>
 *   <li>the relay's throughput at least {@code --throughput-bound} (0.1) of raw swtpm's, one client each.</li>
 * </ul>
 * CPU times are every thread's {@code schedstat} (nanoseconds) over the measured runs; the daemon's background
 * threads (JIT compilers, pool filler: {@link ThreadCpu#BACKGROUND}) are left out of the bounded figure and printed beside it. Exit 0 when both hold, 1 when one does not, 2 on a usage error.
 */
public final class BenchGuard {
    static final String USAGE = """
            usage: BenchGuard --xenstored SOCKET --sim DIR --work DIR --runtime DIR --daemon-pid PID [options]
              --commands N          measured mix commands per side and round (default 10000)
              --rounds N            rounds, raw and relay alternating (default 3)
              --prime N             unmeasured mix commands per side first, to warm both JVMs (default 20000)
              --cpu-bound X         daemon CPU per command at most X times its swtpm's (default 3)
              --throughput-bound X  relay throughput at least X times raw swtpm's (default 0.1)""";

    private BenchGuard() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 == args.length) {
                System.err.println("bench: unexpected argument '" + args[i] + "'\n" + USAGE);
                System.exit(2);
            }
            o.put(args[i].substring(2), args[++i]);
        }
        for (String key : List.of("xenstored", "sim", "work", "runtime", "daemon-pid")) {
            if (!o.containsKey(key)) {
                System.err.println("bench: --" + key + " is required (scripts/bench.sh sets it)\n" + USAGE);
                System.exit(2);
            }
        }
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        System.exit(run(o) ? 0 : 1);
    }

    private static boolean run(Map<String, String> o) throws Exception {
        long daemon = Long.parseLong(o.get("daemon-pid"));
        int commands = Integer.parseInt(o.getOrDefault("commands", "10000"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "3"));
        int prime = Integer.parseInt(o.getOrDefault("prime", "20000"));
        double cpuBound = Double.parseDouble(o.getOrDefault("cpu-bound", "3"));
        double throughputBound = Double.parseDouble(o.getOrDefault("throughput-bound", "0.1"));
        Path work = Path.of(o.get("work"));
        System.out.printf(Locale.ROOT, "== vtpmback benchmark guard: mix-x1, %d rounds of %d commands per side after %d unmeasured;"
                + " load %s%n", rounds, commands, prime, BenchReport.loadAverage());
        try (RawSwtpm raw = RawSwtpm.start(Path.of(o.get("runtime")), work.resolve("ca"), 1);
             RelayGuests relay = RelayGuests.boot(Path.of(o.get("xenstored")), Path.of(o.get("sim")), work.resolve("guests"), 1)) {
            List<TpmClient> rawClient = raw.clients(1);
            List<TpmClient> relayClient = relay.clients(1);
            ClientRun.run("prime", rawClient, Workload.MIX, 0, prime);
            ClientRun.run("prime", relayClient, Workload.MIX, 0, prime);
            List<Long> relaySwtpm = ProcessCpu.swtpmOf(daemon, relay.guest(0).uuid());
            if (relaySwtpm.size() != 1) {
                throw new IllegalStateException("found " + relaySwtpm.size() + " swtpm processes of the daemon (" + daemon
                        + ") for vTPM " + relay.guest(0).uuid() + ", not 1: " + ProcessCpu.swtpmDescendants(daemon));
            }
            List<RunResult> rawRuns = new ArrayList<>();
            List<RunResult> relayRuns = new ArrayList<>();
            long rawSwtpmNanos = 0;
            long relaySwtpmNanos = 0;
            Map<String, Long> daemonThreads = new HashMap<>();
            for (int round = 1; round <= rounds; round++) {
                for (boolean relaySide : round % 2 == 1 ? new boolean[] {false, true} : new boolean[] {true, false}) {
                    List<Long> swtpm = relaySide ? relaySwtpm : raw.pids(1);
                    ThreadCpu before = ThreadCpu.of(daemon);
                    long swtpmBefore = ProcessCpu.schedNanos(swtpm);
                    RunResult r = ClientRun.run(relaySide ? "relay" : "raw", relaySide ? relayClient : rawClient, Workload.MIX, 0, commands);
                    long swtpmNanos = ProcessCpu.schedNanos(swtpm) - swtpmBefore;
                    if (relaySide) {
                        relaySwtpmNanos += swtpmNanos;
                        ThreadCpu.of(daemon).since(before).forEach((name, d) -> daemonThreads.merge(name, d[ThreadCpu.NANOS], Long::sum));
                        relayRuns.add(r);
                    } else {
                        rawSwtpmNanos += swtpmNanos;
                        rawRuns.add(r);
                    }
                    System.out.printf(Locale.ROOT, "   round %d %-5s %6.0f ops/s  median %6.1f us  p99 %7.1f us%n", round,
                            relaySide ? "relay" : "raw", r.opsPerSecond(), r.medianMicros(), r.p99Micros());
                }
            }
            return verdict(RunResult.pooled(rawRuns), RunResult.pooled(relayRuns), daemonThreads, relaySwtpmNanos, rawSwtpmNanos,
                    (double) rounds * commands, cpuBound, throughputBound);
        }
    }

    /** Prints every figure, then the two bounded ratios; true if both hold. */
    private static boolean verdict(RunResult raw, RunResult relay, Map<String, Long> daemonThreads, long relaySwtpmNanos,
                                   long rawSwtpmNanos, double perSide, double cpuBound, double throughputBound) {
        long all = daemonThreads.values().stream().mapToLong(Long::longValue).sum();
        long background = daemonThreads.entrySet().stream().filter(e -> ThreadCpu.BACKGROUND.matcher(e.getKey()).matches())
                .mapToLong(Map.Entry::getValue).sum();
        double daemonUs = (all - background) / 1e3 / perSide;
        double swtpmUs = relaySwtpmNanos / 1e3 / perSide;
        double cpuRatio = daemonUs / swtpmUs;
        double throughput = relay.opsPerSecond() / raw.opsPerSecond();
        System.out.printf(Locale.ROOT, "%n%-18s %-9s %7s %9s %10s %10s %10s%n", "case", "side", "clients", "commands", "ops/s",
                "median_us", "p99_us");
        for (String side : List.of("raw", "relay")) {
            RunResult r = side.equals("raw") ? raw : relay;
            System.out.printf(Locale.ROOT, "%-18s %-9s %7d %9d %10.0f %10.1f %10.1f%n", "guard-mix-x1", side, r.clients(), r.commands(),
                    r.opsPerSecond(), r.medianMicros(), r.p99Micros());
        }
        System.out.printf(Locale.ROOT, "%nRATIO guard-mix-x1 clients=1 latency_median=%.2f throughput=%.2f daemon_cpu_us_per_cmd=%.1f"
                + " daemon_background_us_per_cmd=%.1f swtpm_cpu_us_per_cmd=%.1f raw_swtpm_cpu_us_per_cmd=%.1f%n",
                relay.medianMicros() / raw.medianMicros(), raw.opsPerSecond() / relay.opsPerSecond(), daemonUs, background / 1e3 / perSide,
                swtpmUs, rawSwtpmNanos / 1e3 / perSide);
        boolean cpuOk = cpuRatio <= cpuBound;
        boolean throughputOk = throughput >= throughputBound;
        System.out.printf(Locale.ROOT, "GUARD guard-mix-x1 daemon_cpu_us_per_cmd/swtpm_cpu_us_per_cmd=%.2f bound <= %.2f: %s%n",
                cpuRatio, cpuBound, cpuOk ? "ok" : "FAILED");
        System.out.printf(Locale.ROOT, "GUARD guard-mix-x1 throughput_relay/raw=%.3f bound >= %.2f: %s%n", throughput, throughputBound,
                throughputOk ? "ok" : "FAILED");
        if (!cpuOk) {
            System.err.printf(Locale.ROOT, "bench guard: the daemon spent %.1f us of CPU per relayed command, %.2f times its swtpm's"
                    + " %.1f us: worse than the bound of %.2f times (a regression on the data path: compare with"
                    + " scripts/bench.sh --datapath on the last good commit)%n", daemonUs, cpuRatio, swtpmUs, cpuBound);
        }
        if (!throughputOk) {
            System.err.printf(Locale.ROOT, "bench guard: the relay served %.0f commands/s, %.3f of raw swtpm's %.0f: worse than the bound"
                    + " of %.2f (a regression on the data path: compare with scripts/bench.sh on the last good commit)%n",
                    relay.opsPerSecond(), throughput, raw.opsPerSecond(), throughputBound);
        }
        return cpuOk && throughputOk;
    }
}
