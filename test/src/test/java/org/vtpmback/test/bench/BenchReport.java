package org.vtpmback.test.bench;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/** Formats the benchmark's output: a line per measurement as it happens, then the table and the RATIO lines. */
final class BenchReport {
    private static final String ROW = "%-24s %-11s %7d %9d %10.0f %10.1f %10.1f%n";
    private final PrintStream out;

    BenchReport(PrintStream out) {
        this.out = out;
    }

    void caseStarts(String name, String what, int clients) {
        out.printf(Locale.ROOT, "%n-- %s: %s, %d client(s) at once%n", name, what, clients);
    }

    void measured(int round, String side, RunResult r) {
        out.printf(Locale.ROOT, "   round %d %-11s %7d commands %9.0f ops/s   median %8.1f us   p99 %8.1f us%n",
                round, side, r.commands(), r.opsPerSecond(), r.medianMicros(), r.p99Micros());
    }

    void note(String text) {
        out.println("   " + text);
    }

    /**
     * The summary: every case's pooled raw and relay rows, the floor, then one RATIO line per case
     * (relay/raw for latency, raw/relay for throughput: both read "times slower through the relay").
     */
    void summary(List<CaseResult> cases, RunResult floor) {
        out.printf(Locale.ROOT, "%n== summary (pooled over rounds; ops/s counted while every client was busy)%n");
        out.printf(Locale.ROOT, "%-24s %-11s %7s %9s %10s %10s %10s%n", "case", "side", "clients", "commands", "ops/s",
                "median_us", "p99_us");
        for (CaseResult c : cases) {
            // A reference case (nv-write-xN/tmpfs, nv-write-xN/raw-durable): the same relay runs as nv-write-xN.
            boolean reference = c.name().contains("/");
            String side = reference ? "raw-" + c.name().substring(c.name().indexOf('/') + 1).replace("raw-", "")
                    : c.name().startsWith("nv-write") ? "raw-disk" : "raw";
            row(c.name(), side, c.pooledRaw());
            if (!reference) {
                row(c.name(), "relay", c.pooledRelay());
            }
        }
        row("evtchn-echo", "floor", floor);
        out.println();
        for (CaseResult c : cases) {
            double[] range = c.latencyRatioRange();
            out.printf(Locale.ROOT, "RATIO %s clients=%d latency_median=%.2f latency_p99=%.2f throughput=%.2f"
                    + " rounds=%d round_latency_ratios=%.2f-%.2f backend_added_us=%.1f%s%n", c.name(), c.clients(), c.latencyRatio(),
                    c.p99Ratio(), c.throughputRatio(), c.raw().size(), range[0], range[1], backendAdded(c, floor),
                    c.note().isEmpty() ? "" : " " + c.note());
        }
    }

    /**
     * What the backend adds to a command's median latency: the relay's median minus raw swtpm's and minus the
     * simulated event channel's round trip (the floor), both measured in the same run.
     */
    private static double backendAdded(CaseResult c, RunResult floor) {
        return c.pooledRelay().medianMicros() - c.pooledRaw().medianMicros() - floor.medianMicros();
    }

    /**
     * Issue 13's goals, each with its measured figure and target. Command mix: the daemon's CPU per command
     * at most 15 us and at most swtpm's own, the backend-added latency of one client at most 10 us, many clients'
     * aggregate throughput at least 0.8 of raw swtpm's. NV_Write: one client's median latency at most 1.2 times raw
     * swtpm's on the same disk; many clients' aggregate throughput at least 0.8 of it.
     */
    void goals(List<CaseResult> cases, RunResult floor) {
        out.println();
        for (CaseResult c : cases) {
            if (!c.name().startsWith("mix-x")) {
                continue;
            }
            double daemon = noteValue(c, "daemon_cpu_us_per_cmd");
            double swtpm = noteValue(c, "swtpm_cpu_us_per_cmd");
            if (daemon >= 0) {
                goal(c.name(), "daemon_cpu_us_per_cmd", daemon, "<=", 15, daemon <= 15);
                goal(c.name(), "daemon_cpu_us_per_cmd/swtpm_cpu_us_per_cmd", daemon / swtpm, "<=", 1, daemon <= swtpm);
            }
            if (c.clients() == 1) {
                double added = backendAdded(c, floor);
                goal(c.name(), "backend_added_us", added, "<=", 10, added <= 10);
            } else if (c.clients() >= 16) { // issue 13: "16 guests"
                double aggregate = 1 / c.throughputRatio();
                goal(c.name(), "aggregate ops/s relay/raw", aggregate, ">=", 0.8, aggregate >= 0.8);
                ceiling(c);
            }
        }
        for (CaseResult c : cases) {
            if (!c.name().startsWith("nv-write-x") || c.name().contains("/")) {
                continue; // the tmpfs and raw-durable baselines are for reference only
            }
            if (c.clients() == 1) {
                goal(c.name(), "latency_median relay/raw-on-disk", c.latencyRatio(), "<=", 1.2, c.latencyRatio() <= 1.2);
            } else {
                double aggregate = 1 / c.throughputRatio();
                goal(c.name(), "aggregate ops/s relay/raw-on-disk", aggregate, ">=", 0.8, aggregate >= 0.8);
                ceiling(c);
            }
        }
    }

    /**
     * Under an aggregate goal: what the machine's cores allow (RelayBenchmark's {@code cpu_ceiling}). Every party, the
     * emulated guests included, runs on this machine's cores, so when both sides keep them busy the relay's aggregate
     * cannot pass the ratio of their CPU per command. On a Xen host the guests' side runs in the guests.
     */
    private void ceiling(CaseResult c) {
        double ceiling = noteValue(c, "cpu_ceiling");
        if (ceiling >= 0) {
            double rawClient = noteValue(c, "raw_client_cpu_us_per_cmd");
            double rawSwtpm = noteValue(c, "raw_swtpm_cpu_us_per_cmd");
            double client = noteValue(c, "client_cpu_us_per_cmd");
            double swtpm = noteValue(c, "swtpm_cpu_us_per_cmd");
            out.printf(Locale.ROOT, "     cores' ceiling for that ratio in this run: %.2f, and %.2f with a daemon costing nothing (every"
                    + " party's CPU per command, baseline over relay: client %.1f+swtpm %.1f us against guest side %.1f+daemon %.1f"
                    + "+swtpm %.1f us; busy cores %.2f baseline, %.2f relay, of %d)%n", ceiling, (rawClient + rawSwtpm) / (client + swtpm),
                    rawClient, rawSwtpm, client, noteValue(c, "daemon_cpu_us_per_cmd"), swtpm, noteValue(c, "raw_busy_cores"),
                    noteValue(c, "busy_cores"), Runtime.getRuntime().availableProcessors());
        }
    }

    /** A {@code key=value} figure of the case's note, or -1 if it has none. */
    private static double noteValue(CaseResult c, String key) {
        for (String part : c.note().split(" ")) {
            if (part.startsWith(key + "=")) {
                return Double.parseDouble(part.substring(key.length() + 1));
            }
        }
        return -1;
    }

    /** One goal: {@code GOAL <case> <figure>=<value> target <op> <target>: met|NOT met}, the form bench-results.sh reads. */
    void goal(String name, String what, double value, String op, double target, boolean met) {
        java.math.BigDecimal t = java.math.BigDecimal.valueOf(target).stripTrailingZeros();
        out.printf(Locale.ROOT, "GOAL %s %s=%.2f target %s %s: %s%n", name, what.replace(' ', '_'), value, op,
                (t.scale() < 1 ? t.setScale(1) : t).toPlainString(), met ? "met" : "NOT met");
    }

    private void row(String name, String side, RunResult r) {
        out.printf(Locale.ROOT, ROW, name, side, r.clients(), r.commands(), r.opsPerSecond(), r.medianMicros(), r.p99Micros());
    }

    /** The machine's load average as /proc/loadavg gives it, for a benchmark's header and footer; "unknown" off Linux. */
    static String loadAverage() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }
}
