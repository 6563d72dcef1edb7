package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A case's latency distribution for the chart of {@code scripts/bench-results.sh} (a CDF, raw beside relay): the
 * pooled rounds' latencies at {@value #POINTS} evenly spaced quantiles, so that the file stays small whatever the
 * number of commands. Stateless.
 */
final class LatencyQuantiles {
    private static final int POINTS = 1000;

    private LatencyQuantiles() {
    }

    /** Writes {@code fraction raw_us relay_us} lines, fraction from 0.001 to 1, with a {@code #} header. */
    static void write(Path file, CaseResult c) throws IOException {
        long[] raw = c.pooledRaw().sortedLatencies();
        long[] relay = c.pooledRelay().sortedLatencies();
        List<String> lines = new ArrayList<>();
        lines.add("# " + c.name() + ": fraction of commands, raw_us and relay_us at that quantile (nearest rank)");
        for (int i = 1; i <= POINTS; i++) {
            double p = (double) i / POINTS;
            lines.add(String.format(Locale.ROOT, "%.3f %.1f %.1f", p, at(raw, p), at(relay, p)));
        }
        Files.createDirectories(file.getParent());
        Files.write(file, lines);
    }

    private static double at(long[] sorted, double p) {
        return sorted[Math.max(0, (int) Math.ceil(p * sorted.length) - 1)] / 1e3;
    }
}
