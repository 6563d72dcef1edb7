package org.vtpmback.hotplug.cli;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** A command that reads the configuration: {@code --config}, {@code --set}, {@code --help}, then its handler. */
abstract class ConfiguredCommand implements Callable<Integer> {
    @ParentCommand
    VtpmbackCommand root;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOptions config;

    @Mixin
    HelpOption help;

    /** Loads the configuration and runs {@code handler} with the command's arguments and options. */
    final int execute(Main.Handler handler, List<String> args, Map<String, String> options) {
        return Main.execute(invocation(args, options), handler);
    }

    /** What the command runs with: the parsed options, checked, and the run's streams and lifecycle. */
    final Invocation invocation(List<String> args, Map<String, String> options) {
        config.validate();
        return new Invocation(spec.name(), config.file(), config.overrides(), args, options, root.out(), root.err(),
                root.lifecycle());
    }

    final int execute(Main.Handler handler) {
        return execute(handler, List.of(), Map.of());
    }
}
