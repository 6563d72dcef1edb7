package org.vtpmback.test.host;

import java.io.IOException;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A wait for the daemon that follows its progress instead of a fixed window. On a machine at load
 * 25-30 one EK manufacture took 30-34 s, and fixed 30 s windows expired while the daemon was working;
 * a daemon that is stuck must still fail in about that time. Progress is CPU time used by this JVM's
 * child processes, read through {@link ProcessHandle} (/proc): the swtpm processes of an in-process
 * daemon (an EK is generated inside swtpm), a daemon in a process of its own and its swtpm, xenstored.
 * While any of them moves, the wait goes on, up to {@link #CAP}; once none has moved for {@link #IDLE},
 * it gives up. This JVM's own CPU does not count: the waiting thread itself would look like progress.
 * Daemon log lines are not used: an in-process daemon has no log file, and CPU covers the silent part
 * of a manufacture (the key generation) that log lines only frame.
 */
public final class ProgressWait {
    /** No child process used CPU for this long: nothing is working towards the condition. */
    public static final Duration IDLE = Duration.ofSeconds(30);
    /** Bound on one wait however busy the machine (the tests' own @Timeout may end it sooner). */
    public static final Duration CAP = Duration.ofMinutes(5);
    private static final long POLL_MILLIS = 50;
    private static final long SAMPLE_NANOS = 1_000_000_000L;

    /** A condition that may block briefly (e.g. on a watch) and may throw to end the wait at once. */
    @FunctionalInterface
    public interface Condition {
        boolean holds() throws IOException, InterruptedException;
    }

    /** The wait ended without the condition; the message says why and what was last seen. */
    public static final class Stalled extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        Stalled(String message) {
            super(message);
        }
    }

    private ProgressWait() {
    }

    /** {@link #await(String, Condition, Supplier, Duration, Duration)} with {@link #IDLE} and {@link #CAP}. */
    public static void await(String what, Condition done, Supplier<String> lastSeen) throws IOException, InterruptedException {
        await(what, done, lastSeen, IDLE, CAP);
    }

    /**
     * Returns once {@code done} holds. Throws {@link Stalled} naming {@code what}, the time waited,
     * why it stopped (no progress for {@code idle}, or {@code cap} reached while still busy), the
     * caller's {@code lastSeen} (e.g. xenbus states, a log tail) and the child processes' CPU times.
     */
    static void await(String what, Condition done, Supplier<String> lastSeen, Duration idle, Duration cap)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        Map<Long, Duration> seen = childCpu();
        long lastProgress = start;
        long lastSample = start;
        while (!done.holds()) {
            long now = System.nanoTime();
            if (now - lastSample >= SAMPLE_NANOS) {
                Map<Long, Duration> cpu = childCpu();
                if (!cpu.equals(seen)) { // a child used CPU, started or ended
                    lastProgress = now;
                    seen = cpu;
                }
                lastSample = now;
            }
            String why = now - lastProgress >= idle.toNanos() ? "no child process used CPU for " + idle.toSeconds() + " s"
                    : now - start >= cap.toNanos() ? "still busy after the cap of " + cap.toSeconds() + " s" : null;
            if (why != null) {
                throw new Stalled(String.format("%s: not after %.1f s (%s); last seen: %s; child processes' CPU: %s", what,
                        (now - start) / 1e9, why, lastSeen.get(), describe(seen)));
            }
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** CPU time of each live descendant of this JVM, by pid. */
    private static Map<Long, Duration> childCpu() {
        return ProcessHandle.current().descendants().collect(Collectors.toMap(ProcessHandle::pid,
                p -> p.info().totalCpuDuration().orElse(Duration.ZERO), (a, b) -> a, TreeMap::new));
    }

    private static String describe(Map<Long, Duration> cpu) {
        if (cpu.isEmpty()) {
            return "none running";
        }
        return cpu.entrySet().stream().sorted(Map.Entry.<Long, Duration>comparingByValue(Comparator.reverseOrder())).limit(8)
                .map(e -> "pid " + e.getKey() + " " + ProcessHandle.of(e.getKey()).flatMap(p -> p.info().command())
                        .map(c -> c.substring(c.lastIndexOf('/') + 1)).orElse("?") + " " + e.getValue().toMillis() + " ms")
                .collect(Collectors.joining(", "));
    }
}
