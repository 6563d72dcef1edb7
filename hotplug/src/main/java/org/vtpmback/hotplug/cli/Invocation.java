package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.vtpmback.hotplug.config.ConfigLoader;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * One command's run: its parsed options and where to write.
 *
 * @param command   the command's name
 * @param config    {@code --config FILE}, if given
 * @param overrides {@code --set KEY=VALUE} arguments, in order
 * @param out       normal output
 * @param err       errors and logs
 * @param lifecycle how the process learns it must stop
 */
record Invocation(String command, Optional<Path> config, List<String> overrides, PrintStream out, PrintStream err,
                  Lifecycle lifecycle) {
    Invocation {
        overrides = List.copyOf(overrides);
    }

    /** Loads the configuration file and applies the overrides. */
    VtpmbackConfig loadConfig() {
        return ConfigLoader.load(config, overrides);
    }
}
