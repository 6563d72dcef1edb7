package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code vtpmback}: the command tree, one definition for parsing, {@code --help}, the man page and the bash
 * completion ({@link Manuals}). A subcommand reaches the run's streams and lifecycle through this, its parent.
 */
@Command(name = Main.PROGRAM, resourceBundle = CliText.NAME, mixinStandardHelpOptions = true,
        versionProvider = VtpmbackCommand.VersionText.class,
        customSynopsis = {Main.PROGRAM + " <command> [options]", "       " + Main.PROGRAM + " --help | --version"},
        header = "Xen vTPM backend: serves Linux xen-tpmfront guests with one swtpm per vTPM uuid.",
        description = {"Runs in dom0 (or a driver domain) as the backend of the guests' vtpm devices; the other commands"
                + " inspect and prepare the host, make vTPMs before their guests exist and move stored vTPMs between hosts. Run '" + Main.PROGRAM
                + " <command> --help' for a command's options."},
        commandListHeading = "%nCommands:%n",
        subcommands = {
            ServiceCommands.Daemon.class, ServiceCommands.Status.class, ServiceCommands.Check.class, ServiceCommands.Version.class,
            XlCommands.Restore.class, XlCommands.ResumeDomain.class,
            StoreCommands.ListStored.class, ProvisionCommands.Create.class, ProvisionCommands.Ek.class,
            ProvisionCommands.Ca.class, StoreCommands.Delete.class, StoreCommands.Export.class,
            StoreCommands.Import.class, PoolCommands.Pool.class, ServiceCommands.Init.class, ServiceCommands.CdsArchive.class, HelpCommand.class},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
            "0:success",
            "1:failure",
            "2:usage error (the message says what is wrong; see --help)",
            "70:the daemon after a fatal error (its swtpm processes keep the guests' TPMs)",
            "78:configuration error: fix the configuration, state-dir or master key; systemd does not restart"
                    + " the daemon on it"})
public final class VtpmbackCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    private PrintStream out = System.out;
    private PrintStream err = System.err;
    private Lifecycle lifecycle = Lifecycle.JVM;

    /** For picocli's tools (man page, completion): runs nothing. */
    public VtpmbackCommand() {
    }

    VtpmbackCommand(PrintStream out, PrintStream err, Lifecycle lifecycle) {
        this.out = out;
        this.err = err;
        this.lifecycle = lifecycle;
    }

    /** The command line for {@code root}: what differs from picocli's defaults, in one place. */
    static CommandLine commandLine(VtpmbackCommand root) {
        CommandLine cl = new CommandLine(root);
        cl.setExpandAtFiles(false); // a bundle or xl file name may start with '@'
        // xl's own options (e.g. 'restore -e -V') are arguments of restore, passed to xl as given
        cl.getSubcommands().get("restore").setUnmatchedOptionsArePositionalParams(true);
        // "Usage:" first (as before picocli), then the one-line summary the command list shows
        List<String> order = new ArrayList<>(cl.getHelpSectionKeys());
        order.remove(CommandLine.Model.UsageMessageSpec.SECTION_KEY_HEADER_HEADING);
        order.remove(CommandLine.Model.UsageMessageSpec.SECTION_KEY_HEADER);
        int at = order.indexOf(CommandLine.Model.UsageMessageSpec.SECTION_KEY_SYNOPSIS) + 1;
        order.addAll(at, List.of(CommandLine.Model.UsageMessageSpec.SECTION_KEY_HEADER_HEADING,
                CommandLine.Model.UsageMessageSpec.SECTION_KEY_HEADER));
        cl.setHelpSectionKeys(order);
        for (CommandLine c : cl.getSubcommands().values()) {
            c.setHelpSectionKeys(order);
            c.getCommandSpec().usageMessage().headerHeading("%n").descriptionHeading("%n")
                    .parameterListHeading("%nArguments:%n").optionListHeading("%nOptions:%n");
        }
        cl.getCommandSpec().usageMessage().headerHeading("%n").descriptionHeading("%n").optionListHeading("%nOptions:%n");
        return cl;
    }

    /**
     * Only {@code daemon}, for the service's start: building the whole tree reflects over every command (about 600
     * classes loaded, a third of the daemon's JVM phase here and many seconds under emulation), and a restart
     * costs the guests exactly that time. Its parsing is the same; {@code --help} goes through the whole tree.
     */
    static CommandLine daemonOnly(VtpmbackCommand root) {
        CommandLine cl = new CommandLine(CommandSpec.wrapWithoutInspection(root).name(Main.PROGRAM));
        cl.setExpandAtFiles(false);
        cl.addSubcommand("daemon", new ServiceCommands.Daemon());
        return cl;
    }

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "no command given");
    }

    PrintStream out() {
        return out;
    }

    PrintStream err() {
        return err;
    }

    Lifecycle lifecycle() {
        return lifecycle;
    }

    /** {@code vtpmback <version>}, for {@code --version} and the {@code version} command. */
    static final class VersionText implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {Main.PROGRAM + " " + Version.get()};
        }
    }
}
