package org.vtpmback.hotplug.cli;

import picocli.CommandLine.Option;

/**
 * {@code -h, --help} for a command. Not picocli's standard help mixin: that adds {@code -V}, which
 * {@code restore} must pass through to xl.
 */
final class HelpOption {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;
}
