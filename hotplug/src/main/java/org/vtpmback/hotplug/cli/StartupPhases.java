package org.vtpmback.hotplug.cli;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.StringJoiner;

/**
 * How long each step of the daemon's start took, for one log line. A restart costs the running guests
 * exactly this time (their commands wait on the shared page meanwhile), so an operator, and the
 * real-Xen harness under emulation, can see where it goes. Not thread-safe: the start is one thread.
 */
final class StartupPhases {
    private final long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
    private long last = jvmStart;
    private final StringJoiner phases = new StringJoiner(", ");

    /** Ends the phase {@code name} now (the first one runs from the JVM's start). */
    void mark(String name) {
        long now = System.currentTimeMillis();
        phases.add(name + " " + seconds(now - last));
        last = now;
    }

    /** "2.14 s after the JVM started: JVM and configuration 0.91 s, ...". */
    String summary() {
        return seconds(last - jvmStart) + " after the JVM started: " + phases;
    }

    private static String seconds(long millis) {
        return String.format(Locale.ROOT, "%.2f s", millis / 1000.0);
    }
}
