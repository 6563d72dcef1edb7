package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A process's memory and threads as the kernel counts them at one moment: {@code VmRSS} and {@code Threads} of
 * {@code /proc/<pid>/status}, and its threads counted by name ({@code /proc/<pid>/task/*}/comm, numbered names of one
 * kind as one, e.g. {@code vtpm-worker-N}), so that a count that grows with the guests also says which threads do.
 * Immutable snapshot.
 *
 * @param rssKib  resident set size, KiB
 * @param threads the kernel's thread count of the process
 * @param byName  threads per name (comm is cut at 15 characters: {@code process reaper}, {@code C2 CompilerThre})
 */
record DaemonStatus(long rssKib, int threads, Map<String, Integer> byName) {
    static DaemonStatus of(long pid) {
        Path proc = Path.of("/proc", Long.toString(pid));
        Map<String, Integer> byName = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(proc.resolve("task"))) {
            tasks.forEach(task -> {
                try {
                    byName.merge(Files.readString(task.resolve("comm")).trim().replaceAll("[0-9]+$", "N"), 1, Integer::sum);
                } catch (IOException gone) {
                    // the thread ended while we looked
                }
            });
            long rss = 0;
            int threads = 0;
            for (String line : Files.readAllLines(proc.resolve("status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
                } else if (line.startsWith("Threads:")) {
                    threads = Integer.parseInt(line.replaceAll("[^0-9]", ""));
                }
            }
            return new DaemonStatus(rss, threads, byName);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the status of process " + pid + " (has it exited?): " + e.getMessage(), e);
        }
    }

    double rssMib() {
        return rssKib / 1024.0;
    }

    /** The {@code limit} most numerous thread names, e.g. {@code process_reaper=256 vtpm-worker-N=4}. */
    String topNames(int limit) {
        return byName.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(limit)
                .map(e -> e.getKey().replace(' ', '_') + "=" + e.getValue()).collect(Collectors.joining(" "));
    }
}
