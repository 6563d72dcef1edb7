package org.vtpmback.test.bench;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The command line the benchmarks that start daemons of their own share: {@code --quick} and {@code --name value}
 * pairs; anything else, or a missing required option, prints the usage and exits 2. Immutable.
 *
 * @param given the {@code --name value} pairs, by name without the dashes
 * @param quick whether {@code --quick} was given
 */
record BenchArgs(Map<String, String> given, boolean quick) {
    static BenchArgs parse(String[] args, String usage, List<String> required) {
        Map<String, String> given = new HashMap<>();
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--quick")) {
                quick = true;
            } else if (args[i].startsWith("--") && i + 1 < args.length) {
                given.put(args[i].substring(2), args[++i]);
            } else {
                System.err.println("bench: unexpected argument '" + args[i] + "'\n" + usage);
                System.exit(2);
            }
        }
        if (!given.keySet().containsAll(required)) {
            System.err.println("bench: --" + String.join(", --", required) + " are required (scripts/bench.sh sets them)\n" + usage);
            System.exit(2);
        }
        return new BenchArgs(Map.copyOf(given), quick);
    }

    String get(String name) {
        return given.get(name);
    }

    /** The value of {@code --name}, else {@code quickDefault} with --quick, else {@code fullDefault}. */
    String get(String name, String quickDefault, String fullDefault) {
        return given.getOrDefault(name, quick ? quickDefault : fullDefault);
    }
}
