package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.hotplug.config.ConfigLoader;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * One command's run: its parsed options and where to write.
 *
 * @param command   the command's name
 * @param config    {@code --config FILE}, if given
 * @param overrides {@code --set KEY=VALUE} arguments, in order
 * @param args      positional arguments, in order
 * @param options   the command's own options given: flags map to "", valued options to their value
 * @param out       normal output
 * @param err       errors and logs
 * @param lifecycle how the process learns it must stop
 */
record Invocation(String command, Optional<Path> config, List<String> overrides, List<String> args,
                  Map<String, String> options, PrintStream out, PrintStream err, Lifecycle lifecycle) {
    Invocation {
        overrides = List.copyOf(overrides);
        args = List.copyOf(args);
        options = Map.copyOf(options);
    }

    boolean has(String option) {
        return options.containsKey(option);
    }

    /** Loads the configuration file and applies the overrides. */
    VtpmbackConfig loadConfig() {
        return ConfigLoader.load(config, overrides);
    }
}
