package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Per-thread CPU time and context switches of one process, from {@code /proc/<pid>/task/*}: the first
 * field of {@code schedstat} (nanoseconds on the CPU, not 10 ms ticks) and {@code status}'s voluntary and
 * involuntary switch counts, summed by thread name (pool threads renamed while they run a device's task count
 * under that name). Immutable snapshot.
 */
record ThreadCpu(Map<String, long[]> byName) {
    /** Indexes of the values per name. */
    static final int NANOS = 0;
    static final int VOLUNTARY = 1;
    static final int INVOLUNTARY = 2;
    /** User and system time in clock ticks (10 ms), from {@code stat}: coarse, for the split only. */
    static final int UTIME = 3;
    static final int STIME = 4;
    private static final int VALUES = 5;
    /**
     * Thread names (as grouped here) whose work is neither per command nor per guest: the JIT's compilers (a one-off,
     * still busy in bursts long after the priming on a loaded machine) and the pool filler (a guest's boot took a
     * ready-made TPM, and its replacement is manufactured meanwhile). Figures leave them out and print them beside.
     */
    static final java.util.regex.Pattern BACKGROUND = java.util.regex.Pattern.compile("C[12] CompilerThre.*|vtpm-pool-fill.*");

    static ThreadCpu of(long pid) {
        Map<String, long[]> byName = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            tasks.forEach(task -> {
                try {
                    String name = Files.readString(task.resolve("comm")).trim();
                    long nanos = Long.parseLong(Files.readString(task.resolve("schedstat")).trim().split(" ")[0]);
                    long voluntary = 0;
                    long involuntary = 0;
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            voluntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            involuntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    String stat = Files.readString(task.resolve("stat"));
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long[] sum = byName.computeIfAbsent(group(name), k -> new long[VALUES]);
                    sum[NANOS] += nanos;
                    sum[VOLUNTARY] += voluntary;
                    sum[INVOLUNTARY] += involuntary;
                    sum[UTIME] += Long.parseLong(fields[11]);
                    sum[STIME] += Long.parseLong(fields[12]);
                } catch (IOException | RuntimeException gone) {
                    // the thread ended while we looked: its time is gone with it
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException("cannot list the threads of process " + pid + ": " + e.getMessage(), e);
        }
        return new ThreadCpu(byName);
    }

    /** Numbered threads of one kind count as one (vtpm-worker-3 -> vtpm-worker-N; C2 CompilerThre -> C2 Compiler). */
    private static String group(String comm) {
        return comm.replaceAll("[0-9]+$", "N");
    }

    /** What happened between {@code before} and this snapshot, per name. */
    Map<String, long[]> since(ThreadCpu before) {
        Map<String, long[]> delta = new TreeMap<>();
        byName.forEach((name, now) -> {
            long[] was = before.byName.getOrDefault(name, new long[VALUES]);
            long[] d = new long[VALUES];
            for (int i = 0; i < VALUES; i++) {
                d[i] = now[i] - was[i];
            }
            if (d[NANOS] > 0) { // a thread of the name that ended meanwhile took its time with it: left out
                delta.put(name, d);
            }
        });
        return delta;
    }
}
