package org.vtpmback.test.device;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Thread accounting for "an idle guest costs no thread": a snapshot of the JVM's threads, and the
 * threads that appeared since, sorted into who owns them. The daemon's own threads are named
 * {@code vtpm-*}: {@code vtpm-worker-N} pool threads (renamed {@code vtpm-<domid>-<devid>} while
 * they run a device's tasks), {@code vtpm-evtchn} (one reader for all ports), {@code vtpm-daemon}.
 */
final class DaemonThreads {
    private final Set<Long> before;

    private DaemonThreads(Set<Long> before) {
        this.before = before;
    }

    static DaemonThreads snapshot() {
        return new DaemonThreads(Thread.getAllStackTraces().keySet().stream().map(Thread::getId).collect(Collectors.toSet()));
    }

    /** Threads alive now that were not in the snapshot. */
    List<Thread> added() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).filter(t -> !before.contains(t.getId())).toList();
    }

    /**
     * Who owns a thread: "test" for the emulated guests (one xenbus thread and one event-channel
     * thread per emulated frontend, the frontends' helper threads), "jdk-process" for the JDK's
     * per-child-process reaper (swtpm no longer has one: the daemon's one {@code process-exits} thread
     * watches every swtpm, ThreadsPerGuestTest; the host's own tools may), "daemon" for everything else.
     */
    static String owner(Thread t) {
        String n = t.getName();
        if (n.startsWith("tpmfront-") || n.startsWith("sim-fe-evtchn-") || n.startsWith("guest-")) {
            return "test";
        }
        if (n.equals("process reaper") || n.startsWith("process reaper")) {
            return "jdk-process";
        }
        return "daemon";
    }

    static Map<String, List<String>> byOwner(List<Thread> threads) {
        return threads.stream().collect(Collectors.groupingBy(DaemonThreads::owner, TreeMap::new,
                Collectors.mapping(Thread::getName, Collectors.toList())));
    }

    /** Live daemon pool threads: idle ones are named vtpm-worker-N, busy ones vtpm-<domid>-<devid>. */
    static List<Thread> poolThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("vtpm-worker-") || t.getName().matches("vtpm-\\d+-\\d+"))
                .toList();
    }

    /**
     * Waits (by joining them) for the pool's idle threads to expire; the pool keeps an idle thread
     * 30 s. Returns the pool threads still alive after {@code timeout}.
     */
    static List<Thread> awaitPoolDrained(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Thread t : poolThreads()) {
            long left = deadline - System.nanoTime();
            if (left > 0) {
                t.join(Math.max(1, left / 1_000_000));
            }
        }
        return poolThreads().stream().filter(Thread::isAlive).toList();
    }
}
