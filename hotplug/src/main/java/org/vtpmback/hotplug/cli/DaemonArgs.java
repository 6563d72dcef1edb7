package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The service's start without picocli: {@code vtpmback daemon}, optionally followed by {@code --config FILE} (once)
 * and {@code --set KEY=VALUE} pairs, each option and its value as two arguments. That is every form systemd's unit
 * and the tools use. picocli builds its command model by reflection, which costs a cold JVM about 80 ms (its
 * converter registry, the annotation proxies, a resource bundle lookup that opens every jar): a sixth of a daemon's
 * start, and every running guest waits that long after a restart (issue 13, "Start-up").
 *
 * <p>This recognises only argument lists whose meaning leaves no doubt and returns the same {@link Invocation}
 * that picocli's parse of {@link ServiceCommands.Daemon} gives ({@code DaemonArgsTest} compares both on every
 * form). Anything else ({@code --help}, {@code --set=K=V}, a value that looks like an option, a second
 * {@code --config}, a {@code --set} without {@code KEY=}, an unknown word) goes to picocli, which parses it or says
 * what is wrong: the rules and the messages stay in {@link ConfigOptions}.
 */
final class DaemonArgs {
    private DaemonArgs() {
    }

    static Optional<Invocation> parse(String[] args, PrintStream out, PrintStream err, Lifecycle lifecycle) {
        if (args.length == 0 || !args[0].equals("daemon") || args.length % 2 == 0) {
            return Optional.empty();
        }
        Optional<Path> config = Optional.empty();
        List<String> overrides = new ArrayList<>();
        for (int i = 1; i < args.length; i += 2) {
            String option = args[i];
            String value = args[i + 1];
            if (value.startsWith("-")) {
                return Optional.empty();
            }
            switch (option) {
                case "--config" -> {
                    if (config.isPresent() || value.isEmpty()) {
                        return Optional.empty();
                    }
                    try {
                        config = Optional.of(Path.of(value));
                    } catch (InvalidPathException e) {
                        return Optional.empty();
                    }
                }
                case "--set" -> {
                    if (value.indexOf('=') <= 0) {
                        return Optional.empty();
                    }
                    overrides.add(value);
                }
                default -> {
                    return Optional.empty();
                }
            }
        }
        return Optional.of(new Invocation("daemon", config, overrides, List.of(), Map.of(), out, err, lifecycle));
    }
}
