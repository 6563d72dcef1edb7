package org.vtpmback.test.bench;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/** Formats the benchmark's output: a line per measurement as it happens, then the table and the RATIO lines. */
final class BenchReport {
    private static final String ROW = "%-18s %-9s %7d %9d %10.0f %10.1f %10.1f%n";
    private final PrintStream out;

    BenchReport(PrintStream out) {
        this.out = out;
    }

    void caseStarts(String name, String what, int clients) {
        out.printf(Locale.ROOT, "%n-- %s: %s, %d client(s) at once%n", name, what, clients);
    }

    void measured(int round, String side, RunResult r) {
        out.printf(Locale.ROOT, "   round %d %-9s %7d commands %9.0f ops/s   median %8.1f us   p99 %8.1f us%n",
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
        out.printf(Locale.ROOT, "%-18s %-9s %7s %9s %10s %10s %10s%n", "case", "side", "clients", "commands", "ops/s",
                "median_us", "p99_us");
        for (CaseResult c : cases) {
            boolean reference = c.name().endsWith("/tmpfs"); // the same relay runs as the case before it
            row(c.name(), reference ? "raw-tmpfs" : c.name().startsWith("nv-write") ? "raw-disk" : "raw", c.pooledRaw());
            if (!reference) {
                row(c.name(), "relay", c.pooledRelay());
            }
        }
        row("evtchn-echo", "floor", floor);
        out.println();
        for (CaseResult c : cases) {
            double[] range = c.latencyRatioRange();
            out.printf(Locale.ROOT, "RATIO %s clients=%d latency_median=%.2f latency_p99=%.2f throughput=%.2f"
                    + " rounds=%d round_latency_ratios=%.2f-%.2f%s%n", c.name(), c.clients(), c.latencyRatio(),
                    c.p99Ratio(), c.throughputRatio(), c.raw().size(), range[0], range[1],
                    c.note().isEmpty() ? "" : " " + c.note());
        }
    }

    /**
     * Issue 13's goals for the NV_Write cases, each with its measured figure and target: one client's median
     * latency at most 1.2 times raw swtpm's on the same disk; many clients' aggregate throughput at least 0.8 of it.
     */
    void goals(List<CaseResult> cases) {
        out.println();
        for (CaseResult c : cases) {
            if (!c.name().startsWith("nv-write-x") || c.name().contains("/")) {
                continue; // the tmpfs baseline is for reference only
            }
            if (c.clients() == 1) {
                goal(c.name(), "latency_median relay/raw-on-disk", c.latencyRatio(), "<=", 1.2, c.latencyRatio() <= 1.2);
            } else {
                double aggregate = 1 / c.throughputRatio();
                goal(c.name(), "aggregate ops/s relay/raw-on-disk", aggregate, ">=", 0.8, aggregate >= 0.8);
            }
        }
    }

    private void goal(String name, String what, double value, String op, double target, boolean met) {
        out.printf(Locale.ROOT, "GOAL %s %s=%.2f target %s %.1f: %s%n", name, what.replace(' ', '_'), value, op, target,
                met ? "met" : "NOT met");
    }

    private void row(String name, String side, RunResult r) {
        out.printf(Locale.ROOT, ROW, name, side, r.clients(), r.commands(), r.opsPerSecond(), r.medianMicros(), r.p99Micros());
    }
}
