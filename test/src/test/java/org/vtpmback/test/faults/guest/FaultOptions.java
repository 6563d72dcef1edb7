package org.vtpmback.test.faults.guest;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Options of {@link GuestFaults}. The short profile (CI) and the long one (by hand, figures for
 * docs/reliability.md) differ only in counts and window lengths.
 *
 * @param cases          the cases to run, in order
 * @param casesNamed     whether {@code --cases} named them (then {@link #PENDING} ones run too)
 * @param pages          fuzzed shared pages (case {@code pages})
 * @param writes         hostile xenstore requests (case {@code xenstore})
 * @param nodeRounds     rounds of writes to the guest's own backend nodes, per xenstored flavour
 * @param keygen         how long the notification flood runs alongside back-to-back RSA key generations
 * @param rsaBits        RSA key size of those generations
 * @param crashLoop      swtpm kills in a row mid-command (case {@code swtpm})
 * @param hang           whether to hang a swtpm (SIGSTOP) mid-command and wait for the daemon's bound
 * @param answerBound    how long a guest may wait for the answer to any command, error or not
 * @param quiet          the neighbour's quiet window before each case
 * @param daemonJavaOpts extra JVM options of the daemon ({@code VTPMBACK_JAVA_OPTS}); empty: the launcher's own
 */
record FaultOptions(boolean longProfile, long seed, List<String> cases, boolean casesNamed, Path work, Path dist,
                    String daemonJavaOpts, long pages, long writes, int nodeRounds, Duration keygen, int rsaBits, int crashLoop,
                    boolean hang, Duration answerBound, Duration quiet) {
    static final List<String> ALL = List.of("pages", "xenstore", "backend-nodes", "keygen-flood", "swtpm", "enospc");
    /**
     * Cases that fail until a fix of issue 9 is on main: left out of the default run (reported as
     * pending), run when named with {@code --cases}. Empty once every fix has landed.
     */
    static final Map<String, String> PENDING = Map.of();
    static final String USAGE = """
            usage: GuestFaults --work DIR [--long] [--seed N] [--cases a,b] [--dist DIR] [--daemon-java-opts OPTS]
                               [--pages N] [--writes N] [--hang] [--answer-bound SECONDS]
              cases: pages, xenstore, backend-nodes, keygen-flood, swtpm, enospc (default: all)""";

    static FaultOptions parse(String[] args) {
        boolean longProfile = false;
        long seed = System.currentTimeMillis();
        List<String> cases = null;
        Path work = null;
        Path dist = null;
        String javaOpts = "";
        Long pages = null;
        Long writes = null;
        Boolean hang = null;
        Long bound = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--long" -> longProfile = true;
                case "--seed" -> seed = Long.parseLong(value(args, ++i, a));
                case "--cases" -> cases = List.of(value(args, ++i, a).split(","));
                case "--work" -> work = Path.of(value(args, ++i, a)).toAbsolutePath();
                case "--dist" -> dist = Path.of(value(args, ++i, a)).toAbsolutePath();
                case "--daemon-java-opts" -> javaOpts = value(args, ++i, a);
                case "--pages" -> pages = Long.parseLong(value(args, ++i, a));
                case "--writes" -> writes = Long.parseLong(value(args, ++i, a));
                case "--hang" -> hang = true;
                case "--answer-bound" -> bound = Long.parseLong(value(args, ++i, a));
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (work == null) {
            throw new IllegalArgumentException("--work is required");
        }
        boolean named = cases != null;
        if (!named) {
            cases = ALL;
        }
        List<String> unknown = new ArrayList<>(cases);
        unknown.removeAll(ALL);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown cases " + unknown);
        }
        return new FaultOptions(longProfile, seed, cases, named, work, dist, javaOpts,
                pages != null ? pages : longProfile ? 1_000_000 : 10_000, writes != null ? writes : longProfile ? 100_000 : 5_000,
                longProfile ? 100 : 5, Duration.ofSeconds(10), 3072, longProfile ? 20 : 5, hang != null ? hang : longProfile,
                Duration.ofSeconds(bound != null ? bound : 150), Duration.ofSeconds(longProfile ? 20 : 4));
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    @Override
    public String toString() {
        return (longProfile ? "long" : "short") + " profile, seed " + seed + ", cases " + String.join(",", cases) + ", pages " + pages
                + ", xenstore requests " + writes + ", backend-node rounds " + nodeRounds + ", keygen " + keygen.toSeconds() + " s of RSA-"
                + rsaBits + ", swtpm crash loop " + crashLoop + (hang ? ", swtpm hang" : ", no swtpm hang") + ", answer bound "
                + answerBound.toSeconds() + " s, quiet window " + quiet.toSeconds() + " s, daemon JVM options "
                + (daemonJavaOpts.isBlank() ? "the launcher's" : "'" + daemonJavaOpts + "'");
    }
}
