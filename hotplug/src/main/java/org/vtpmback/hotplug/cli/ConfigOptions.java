package org.vtpmback.hotplug.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.vtpmback.hotplug.config.VtpmbackConfig;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code --config FILE} and {@code --set KEY=VALUE}, for every command that reads the configuration. */
final class ConfigOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    private Optional<Path> file = Optional.empty();

    @Option(names = "--config", paramLabel = "FILE", description = {"configuration file, vtpmback.conf(5); default: "
            + VtpmbackConfig.DEFAULT_FILE_NAME + ", and if that file is missing, the built-in defaults apply"})
    void file(String value) {
        if (value.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--config needs a file name");
        }
        try {
            file = Optional.of(Path.of(value));
        } catch (InvalidPathException e) {
            throw new ParameterException(spec.commandLine(), "--config " + value + ": not a path (" + e.getReason() + ")");
        }
    }

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = {"override one configuration key; repeatable"
            + " (e.g. --set log-level=debug --set host=simulated). Keys, as in vtpmback.conf(5):"
            + " ${bundle:config.keys}"})
    private List<String> overrides = new ArrayList<>();

    /** Refuses a {@code --set} without {@code KEY=}; its value is checked with the configuration. */
    void validate() {
        for (String v : overrides) {
            if (v.indexOf('=') <= 0) {
                throw new ParameterException(spec.commandLine(), "--set " + v + ": expected --set KEY=VALUE");
            }
        }
    }

    Optional<Path> file() {
        return file;
    }

    List<String> overrides() {
        return List.copyOf(overrides);
    }
}
