package org.vtpmback.test.faults.guest;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One case's summary line, {@code FAULTS guest <case> key=value ...}, and the counts it violated.
 * A violation is a count the issue fixes (0 crashes, an answer for every command, EACCES every time...),
 * never a clock threshold. Not thread-safe.
 */
final class CaseLine {
    private final String name;
    private final StringBuilder figures = new StringBuilder();
    private final List<String> violations = new ArrayList<>();
    private final long startNanos = System.nanoTime();
    private String skipped;

    CaseLine(String name) {
        this.name = name;
    }

    String name() {
        return name;
    }

    CaseLine put(String key, Object value) {
        figures.append(' ').append(key).append('=').append(value);
        return this;
    }

    CaseLine put(String formatted) {
        if (!formatted.isEmpty()) {
            figures.append(' ').append(formatted);
        }
        return this;
    }

    /** Records {@code key=count} and a violation when it differs from {@code expected}. */
    CaseLine count(String key, long count, long expected) {
        put(key, count);
        if (count != expected) {
            violations.add(key + "=" + count + " (expected " + expected + ")");
        }
        return this;
    }

    /** Records {@code key=yes|no} and a violation when it is not {@code expected}. */
    CaseLine flag(String key, boolean value, boolean expected) {
        put(key, value ? "yes" : "no");
        if (value != expected) {
            violations.add(key + "=" + (value ? "yes" : "no") + " (expected " + (expected ? "yes" : "no") + ")");
        }
        return this;
    }

    void violation(String what) {
        violations.add(what);
    }

    /**
     * Marks the case as not run on this machine (e.g. no tmpfs without root): it reports SKIPPED, never
     * PASS, so a summary cannot count a check that did not happen. A violation still makes it FAIL.
     */
    CaseLine skip(String why) {
        skipped = why;
        return put("skipped", why);
    }

    boolean passed() {
        return violations.isEmpty();
    }

    /** Skipped and nothing failed (the daemon may still have crashed around it: then it failed). */
    boolean skipped() {
        return skipped != null && passed();
    }

    String verdict() {
        return !passed() ? "FAIL" : skipped != null ? "SKIPPED" : "PASS";
    }

    List<String> violations() {
        return violations;
    }

    /** The summary line, with the case's duration and its verdict last. */
    String line() {
        return String.format(Locale.ROOT, "FAULTS guest %s%s duration_s=%.1f result=%s", name, figures,
                (System.nanoTime() - startNanos) / 1e9, verdict());
    }
}
