package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.StringJoiner;

/**
 * How long each step of the daemon's start took, for one log line. A restart costs the running guests
 * exactly this time (their commands wait on the shared page meanwhile), so an operator, and the
 * real-Xen harness under emulation, can see where it goes. Not thread-safe: the start is one thread.
 *
 * <p>It counts from the exec of the launcher ({@code /usr/sbin/vtpmback}, a shell script that execs the JVM in the
 * same process), as the kernel recorded the process's start: {@code /proc/self/stat} field 22 and {@code /proc/uptime}
 * are both clock ticks since boot, so their difference is exact to a tick (10 ms). Where they cannot be read it
 * counts from the JVM's own start instead, and says so.
 */
final class StartupPhases {
    /** USER_HZ: what /proc counts ticks in; 100 on every Linux architecture the JDK runs on. */
    private static final long TICKS_PER_SECOND = 100;

    private final String origin;
    /** Nanoseconds from the origin to {@link #startNanos}. */
    private final long sinceOrigin;
    private final long startNanos = System.nanoTime();
    private long last = startNanos;
    private final StringJoiner phases = new StringJoiner(", ");

    /** The first phase runs from the exec (or the JVM's start) to the first {@link #mark}. */
    StartupPhases() {
        long fromExec = nanosSinceExec();
        if (fromExec >= 0) {
            origin = "exec";
            sinceOrigin = fromExec;
        } else {
            origin = "the JVM started";
            sinceOrigin = (System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime()) * 1_000_000;
        }
    }

    /** Ends the phase {@code name} now. */
    void mark(String name) {
        long now = System.nanoTime();
        long took = now - last + (last == startNanos ? sinceOrigin : 0);
        phases.add(name + " " + seconds(took));
        last = now;
    }

    /** "ready 0.48 s after exec: launcher, JVM and command line 0.25 s, ...". */
    String summary() {
        return seconds(sinceOrigin + last - startNanos) + " after " + origin + ": " + phases;
    }

    /** This process's age by the kernel's clock, or -1 if /proc does not say. */
    static long nanosSinceExec() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            // field 2, the command name, is in parentheses and may hold blanks and parentheses itself
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long startTicks = Long.parseLong(fields[19]); // field 22, starttime
            String uptime = Files.readString(Path.of("/proc/uptime"));
            String[] secs = uptime.substring(0, uptime.indexOf(' ')).split("\\.");
            long nowTicks = Long.parseLong(secs[0]) * TICKS_PER_SECOND + Long.parseLong(secs[1]);
            return nowTicks >= startTicks ? (nowTicks - startTicks) * (1_000_000_000 / TICKS_PER_SECOND) : -1;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** "0.48 s": two places, rounded. */
    static String seconds(long nanos) {
        long centis = Math.max(0, (nanos + 5_000_000) / 10_000_000);
        long frac = centis % 100;
        return centis / 100 + "." + (frac < 10 ? "0" : "") + frac + " s";
    }
}
