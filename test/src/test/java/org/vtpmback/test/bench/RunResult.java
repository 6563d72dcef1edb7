package org.vtpmback.test.bench;

import java.util.Arrays;
import java.util.List;

/**
 * What one side measured: the commands completed while every client was still busy, over how long,
 * and each one's latency. Immutable (the latency array is private and sorted).
 *
 * @param clients  how many clients ran concurrently
 * @param commands commands counted (completed inside the window)
 * @param nanos    the window: from the common start to the moment the first client finished
 */
record RunResult(int clients, long commands, long nanos, long[] sortedLatencies) {
    RunResult {
        sortedLatencies = sortedLatencies.clone();
        Arrays.sort(sortedLatencies);
    }

    /** Several runs of one side as one: commands and windows add up, latencies are pooled. */
    static RunResult pooled(List<RunResult> runs) {
        long commands = runs.stream().mapToLong(RunResult::commands).sum();
        long nanos = runs.stream().mapToLong(RunResult::nanos).sum();
        long[] all = runs.stream().flatMapToLong(r -> Arrays.stream(r.sortedLatencies)).toArray();
        return new RunResult(runs.get(0).clients(), commands, nanos, all);
    }

    double opsPerSecond() {
        return commands * 1e9 / nanos;
    }

    double medianMicros() {
        return percentileMicros(0.50);
    }

    double p99Micros() {
        return percentileMicros(0.99);
    }

    private double percentileMicros(double p) {
        int index = (int) Math.ceil(p * sortedLatencies.length) - 1;
        return sortedLatencies[Math.max(0, index)] / 1e3;
    }

    @Override
    public long[] sortedLatencies() {
        return sortedLatencies.clone();
    }
}
