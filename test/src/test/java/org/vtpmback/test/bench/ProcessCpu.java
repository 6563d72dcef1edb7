package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The CPU time a process (all its threads) has used so far, from {@code /proc/<pid>/stat}: utime plus
 * stime, in clock ticks of 10 ms (USER_HZ is 100 on Linux). Coarse, so only useful over runs of a
 * second or more. Stateless.
 */
final class ProcessCpu {
    private static final long NANOS_PER_TICK = 10_000_000L;
    /** utime and stime are fields 14 and 15; counted from after the ")" that ends the command name. */
    private static final int UTIME_AFTER_COMM = 11;

    private ProcessCpu() {
    }

    /**
     * The CPU time of several processes together; a process gone meanwhile counts 0 (its time is lost with
     * it, so deltas over a run only make sense for processes that outlive the run).
     */
    static long nanos(java.util.Collection<Long> pids) {
        long sum = 0;
        for (long pid : pids) {
            try {
                sum += nanos(pid);
            } catch (IllegalStateException gone) {
                // exited: nothing more to count
            }
        }
        return sum;
    }

    /** The daemon's swtpm processes (its descendants whose command is swtpm), as they are now. */
    static java.util.List<Long> swtpmDescendants(long daemonPid) {
        return ProcessHandle.of(daemonPid).stream().flatMap(ProcessHandle::descendants)
                .filter(p -> p.info().command().map(c -> c.endsWith("swtpm")).orElse(false))
                .map(ProcessHandle::pid).toList();
    }

    /**
     * The CPU time of several processes (all their threads) in nanoseconds, from each thread's {@code schedstat}:
     * finer than {@link #nanos(long)}'s 10 ms ticks, so short windows and idle processes can be read. A process that
     * exited counts 0, so only processes that outlive the window are meaningful.
     */
    static long schedNanos(java.util.Collection<Long> pids) {
        long sum = 0;
        for (long pid : pids) {
            try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                for (Path task : tasks.toList()) {
                    sum += Long.parseLong(Files.readString(task.resolve("schedstat")).trim().split(" ")[0]);
                }
            } catch (IOException | RuntimeException gone) {
                // exited meanwhile: nothing more to count
            }
        }
        return sum;
    }

    /**
     * The daemon's swtpm serving the vTPM {@code uuid}: the one whose arguments name it (its state and socket folders
     * do). Not a ready-made TPM's being manufactured meanwhile, whose CPU is not the guest's.
     */
    static java.util.List<Long> swtpmOf(long daemonPid, String uuid) {
        return swtpmDescendants(daemonPid).stream().filter(pid -> ProcessHandle.of(pid).flatMap(p -> p.info().arguments())
                .map(a -> String.join(" ", a).contains(uuid)).orElse(false)).toList();
    }

    static long nanos(long pid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the CPU time of process " + pid + ": " + e.getMessage(), e);
        }
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(fields[UTIME_AFTER_COMM]) + Long.parseLong(fields[UTIME_AFTER_COMM + 1])) * NANOS_PER_TICK;
    }
}
