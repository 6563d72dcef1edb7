package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Optional;
import org.vtpmback.hotplug.config.ConfigException;
import org.vtpmback.hotplug.config.VtpmbackConfig;
import picocli.CommandLine;

/**
 * {@code vtpmback <command> [options]}: the operator's entry point; the commands are defined in
 * {@link VtpmbackCommand}. Exit status 0 on success, 1 when something failed at run time, 2 for a usage error
 * (the message says what and where to find help), 78 (EX_CONFIG of sysexits.h) for a configuration the operator
 * must fix: the unit does not restart on it ({@code RestartPreventExitStatus=78}), since every retry would fail
 * the same way.
 */
public final class Main {
    public static final String PROGRAM = "vtpmback";
    public static final int OK = 0;
    public static final int FAILURE = 1;
    public static final int USAGE = 2;
    public static final int CONFIG = 78;

    /** What a command does once its options are parsed and the configuration is loaded. */
    @FunctionalInterface
    interface Handler {
        int run(Invocation inv, VtpmbackConfig config);
    }

    private Main() {
    }

    public static void main(String[] args) {
        // Before anything touches java.util.logging: keep the handlers through the JVM's shutdown hooks.
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", ShutdownSafeLogManager.class.getName());
        }
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one command line and returns its exit status; never calls System.exit. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, Lifecycle.JVM);
    }

    static int run(String[] args, PrintStream out, PrintStream err, Lifecycle lifecycle) {
        PrintWriter helpOut = new PrintWriter(out, true);
        try {
            Optional<Invocation> daemon = DaemonArgs.parse(args, out, err, lifecycle);
            if (daemon.isPresent()) {
                return runDaemon(daemon.get());
            }
            VtpmbackCommand root = new VtpmbackCommand(out, err, lifecycle);
            CommandLine cl = daemonStart(args) ? VtpmbackCommand.daemonOnly(root) : VtpmbackCommand.commandLine(root);
            cl.setOut(helpOut);
            cl.setErr(new PrintWriter(err, true));
            cl.setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
            cl.setParameterExceptionHandler(new UsageErrors(err));
            return cl.execute(args);
        } finally {
            helpOut.flush();
            LogSetup.flush(); // the log is written off the caller's thread: let its last lines out, within a bound
        }
    }

    /** As picocli runs a command: an exception it throws is printed with its stack and the status is 1. */
    private static int runDaemon(Invocation inv) {
        try {
            return execute(inv, DaemonCommand::run);
        } catch (RuntimeException e) {
            e.printStackTrace(inv.err());
            return FAILURE;
        }
    }

    /** {@code vtpmback daemon [options]} without a help option: see {@link VtpmbackCommand#daemonOnly}. */
    private static boolean daemonStart(String[] args) {
        return args.length > 0 && args[0].equals("daemon")
                && java.util.Arrays.stream(args).noneMatch(a -> a.equals("--help") || a.equals("-h"));
    }

    /** Loads {@code inv}'s configuration (a bad one: 2 if from the command line, else 78) and runs {@code handler}. */
    static int execute(Invocation inv, Handler handler) {
        String context = PROGRAM + " " + inv.command();
        VtpmbackConfig cfg;
        try {
            cfg = inv.loadConfig();
        } catch (ConfigException e) {
            inv.err().println(errorLine(inv.err(), context + ": " + e.getMessage()));
            if (e.commandLine()) {
                inv.err().println("Try '" + context + " --help'.");
                return USAGE;
            }
            return CONFIG;
        }
        LogSetup.configure(cfg.logLevel(), inv.err()); // every command: its log lines look the same as the daemon's
        return handler.run(inv, cfg);
    }

    /** Prints {@code vtpmback <command>: message} to stderr and returns {@link #FAILURE}. */
    static int fail(Invocation inv, String message) {
        inv.err().println(errorLine(inv.err(), PROGRAM + " " + inv.command() + ": " + message));
        return FAILURE;
    }

    /** Like {@link #fail}, for a configuration the operator must fix: returns {@link #CONFIG}. */
    static int failConfig(Invocation inv, String message) {
        fail(inv, message);
        return CONFIG;
    }

    /** Like {@link #fail}, for a bad argument found by the command: says where the help is, returns {@link #USAGE}. */
    static int usage(Invocation inv, String message) {
        fail(inv, message);
        inv.err().println("Try '" + PROGRAM + " " + inv.command() + " --help'.");
        return USAGE;
    }

    /**
     * {@code text} as is, or, when {@code err} is the journal, as one entry with sd-daemon(3)'s "err" priority (so
     * that {@code journalctl -p err} shows it) and its newlines escaped (e.g. JNA's multi-line load error).
     */
    static String errorLine(PrintStream err, String text) {
        return errorLine(JournalStream.isStderr(err), text);
    }

    static String errorLine(boolean journal, String text) {
        return journal ? "<3>" + OneLineFormatter.escape(text) : text;
    }
}
