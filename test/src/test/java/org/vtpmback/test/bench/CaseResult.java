package org.vtpmback.test.bench;

import java.util.List;

/**
 * One case: the same workload and client count measured on raw swtpm and through the relay, round by
 * round. Ratios come from the pooled rounds; the per-round latency ratios show how noisy they were.
 * Immutable.
 *
 * @param name    short and grep-friendly, e.g. {@code mix-x4}
 * @param raw     the baseline's rounds
 * @param relay   the relay's rounds, as many as {@code raw}
 * @param note    anything else worth a line (e.g. checkpoints counted), or empty
 */
record CaseResult(String name, List<RunResult> raw, List<RunResult> relay, String note) {
    CaseResult {
        raw = List.copyOf(raw);
        relay = List.copyOf(relay);
        if (raw.isEmpty() || raw.size() != relay.size()) {
            throw new IllegalArgumentException(name + ": " + raw.size() + " raw and " + relay.size() + " relay rounds");
        }
    }

    RunResult pooledRaw() {
        return RunResult.pooled(raw);
    }

    RunResult pooledRelay() {
        return RunResult.pooled(relay);
    }

    int clients() {
        return raw.get(0).clients();
    }

    /** Relay median latency over raw median latency: how many times longer a command takes. */
    double latencyRatio() {
        return pooledRelay().medianMicros() / pooledRaw().medianMicros();
    }

    double p99Ratio() {
        return pooledRelay().p99Micros() / pooledRaw().p99Micros();
    }

    /** Raw ops/s over relay ops/s: how many times more commands raw swtpm serves. */
    double throughputRatio() {
        return pooledRaw().opsPerSecond() / pooledRelay().opsPerSecond();
    }

    /** Smallest and largest per-round median latency ratio. */
    double[] latencyRatioRange() {
        double min = Double.MAX_VALUE;
        double max = 0;
        for (int i = 0; i < raw.size(); i++) {
            double r = relay.get(i).medianMicros() / raw.get(i).medianMicros();
            min = Math.min(min, r);
            max = Math.max(max, r);
        }
        return new double[] {min, max};
    }
}
