package org.vtpmback.test.bench;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark's command line. The first six are set by {@code scripts/bench.sh}, the rest are the
 * user's; {@code --quick} picks smaller defaults, explicit values win over either. Immutable.
 *
 * @param xenstoredSocket the private xenstored the daemon uses
 * @param simDir          the daemon's simulation-dir
 * @param work            scratch space for this process (guest emulators, the local CA of the baseline), and the
 *                        state of the raw-on-disk baseline: on the daemon's state-dir file system
 * @param runtimeDir      where the baseline's swtpm sockets and state go: the daemon's runtime-dir filesystem
 * @param daemonState     the daemon's state-dir (read to count checkpoints, never written)
 * @param daemonPid       the daemon's process, whose CPU time is read; 0 if not given
 * @param commands        measured commands per client and round
 * @param warmup          unmeasured commands per client before each measurement
 * @param guests          client counts of the mix cases, e.g. 1, 4, 16
 * @param rounds          how often each case is measured, raw and relay alternating
 * @param prime           mix commands sent on each side once, before any case (NV_Write: a tenth)
 * @param nvCommands      measured NV_Write commands per client and round
 * @param nvWarmup        unmeasured NV_Write commands per client before each measurement
 * @param results         where each case's latency distribution is written for the chart, if anywhere
 */
record BenchOptions(Path xenstoredSocket, Path simDir, Path work, Path runtimeDir, Path daemonState, long daemonPid, int commands,
                    int warmup, List<Integer> guests, int rounds, int prime, int nvCommands, int nvWarmup,
                    java.util.Optional<Path> results) {
    static final String USAGE = """
            usage: RelayBenchmark --xenstored SOCKET --sim DIR --work DIR --runtime DIR --daemon-state DIR
                                  [--daemon-pid PID] [options]
              --quick             small defaults (one round, guests 1,4): under a minute
              --commands N        measured commands per client and round (default 4000; quick 1500)
              --warmup N          unmeasured commands per client first (default 1000; quick 500)
              --guests LIST       concurrent guests of the mix cases (default 1,4,16; quick 1,4)
              --rounds N          measurements per case, raw and relay alternating (default 3; quick 1)
              --prime N           mix commands sent once per side before any case, to warm both JVMs; a
                                  tenth as many NV_Writes (default 30000; quick 10000)
              --nv-commands N     measured NV_Write commands per client and round (default 300; quick 100);
                                  the NV_Write cases run with 1 client and with the largest --guests count
              --nv-warmup N       unmeasured NV_Write commands per client first (default 50; quick 20)
              --results DIR       writes latency-<case>.dat there: each case's latency quantiles, raw and relay""";

    /** Parses {@code args}; throws {@link IllegalArgumentException} with a message for the user. */
    static BenchOptions parse(String... args) {
        Map<String, String> given = new HashMap<>();
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--quick")) {
                quick = true;
            } else if (a.startsWith("--") && i + 1 < args.length) {
                given.put(a.substring(2), args[++i]);
            } else {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
        }
        BenchOptions o = new BenchOptions(path(given, "xenstored"), path(given, "sim"), path(given, "work"),
                path(given, "runtime"), path(given, "daemon-state"), count(given, "daemon-pid", 0, 0),
                count(given, "commands", quick ? 1500 : 4000, 1), count(given, "warmup", quick ? 500 : 1000, 0),
                guests(given.getOrDefault("guests", quick ? "1,4" : "1,4,16")), count(given, "rounds", quick ? 1 : 3, 1),
                count(given, "prime", quick ? 10000 : 30000, 0),
                count(given, "nv-commands", quick ? 100 : 300, 1), count(given, "nv-warmup", quick ? 20 : 50, 0),
                java.util.Optional.ofNullable(given.get("results")).map(Path::of));
        given.keySet().removeAll(List.of("xenstored", "sim", "work", "runtime", "daemon-state", "daemon-pid", "commands", "warmup",
                "guests", "rounds", "prime", "nv-commands", "nv-warmup", "results"));
        if (!given.isEmpty()) {
            throw new IllegalArgumentException("unknown option(s): --" + String.join(", --", given.keySet()));
        }
        return o;
    }

    int maxGuests() {
        return guests.stream().mapToInt(Integer::intValue).max().orElseThrow();
    }

    @Override
    public String toString() {
        return "commands " + commands + "/client/round after " + warmup + " warm-up, guests " + guests + ", rounds "
                + rounds + ", priming " + prime + ", NV_Write " + nvCommands + "/round after " + nvWarmup + " warm-up";
    }

    private static Path path(Map<String, String> given, String key) {
        String v = given.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required (scripts/bench.sh sets it)");
        }
        return Path.of(v);
    }

    private static int count(Map<String, String> given, String key, int fallback, int min) {
        String v = given.getOrDefault(key, Integer.toString(fallback));
        try {
            int n = Integer.parseInt(v);
            if (n >= min) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("--" + key + " wants a whole number >= " + min + ", got '" + v + "'");
    }

    private static List<Integer> guests(String list) {
        try {
            List<Integer> counts = Arrays.stream(list.split(",")).map(String::trim).map(Integer::parseInt).toList();
            if (!counts.isEmpty() && counts.stream().allMatch(n -> n >= 1 && n <= 64)) {
                return counts;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("--guests wants a comma-separated list of 1..64, got '" + list + "'");
    }
}
