package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.vtpmback.hotplug.config.ConfigException;
import org.vtpmback.hotplug.config.ConfigLoader;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback <command> [options]}: the operator's entry point. Exit status 0 on success, 1 when
 * something failed at run time, 2 for a usage error (the message says what and where to find help), 78
 * (EX_CONFIG of sysexits.h) for a configuration the operator must fix: the unit does not restart on it
 * ({@code RestartPreventExitStatus=78}), since every retry would fail the same way.
 */
public final class Main {
    public static final String PROGRAM = "vtpmback";
    public static final int OK = 0;
    public static final int FAILURE = 1;
    public static final int USAGE = 2;
    public static final int CONFIG = 78;

    private static final String CONFIG_OPTIONS = ""
            + "Options:\n"
            + "  --config FILE     configuration file (default " + VtpmbackConfig.DEFAULT_FILE + ";\n"
            + "                    if that file is missing, the built-in defaults apply)\n"
            + "  --set KEY=VALUE   override one configuration key; repeatable\n"
            + "                    (e.g. --set log-level=debug --set host=simulated)\n"
            + "  -h, --help        show this help\n"
            + "\n"
            + "Configuration keys (the commented defaults are in etc/vtpmback.conf of the distribution):\n"
            + wrap(String.join(", ", ConfigLoader.keys()) + ", " + ConfigLoader.TPM_FAMILY_PREFIX
                    + "<uuid> (2.0 or 1.2 for one vTPM)", "  ", 78);

    /** {@code text} broken at blanks into lines of at most {@code width} characters, each indented. */
    static String wrap(String text, String indent, int width) {
        StringBuilder sb = new StringBuilder();
        StringBuilder line = new StringBuilder(indent);
        for (String word : text.split(" ")) {
            if (line.length() > indent.length() && line.length() + 1 + word.length() > width) {
                sb.append(line).append('\n');
                line = new StringBuilder(indent);
            }
            if (line.length() > indent.length()) {
                line.append(' ');
            }
            line.append(word);
        }
        return sb.append(line).append('\n').toString();
    }

    /** What a command does once its options are parsed. */
    @FunctionalInterface
    interface Handler {
        int run(Invocation inv, VtpmbackConfig config);
    }

    /**
     * One row of the command table.
     *
     * @param name    what the operator types
     * @param summary one line for the command list
     * @param usage   the usage line after {@code vtpmback}
     * @param help    the command's help text (description and options)
     * @param usesConfig whether it takes {@code --config} and {@code --set}
     * @param handler null for a planned command that is not implemented yet
     */
    record Command(String name, String summary, String usage, String help, boolean usesConfig, Syntax syntax, Handler handler) {
        Command(String name, String summary, String usage, String help, boolean usesConfig, Handler handler) {
            this(name, summary, usage, help, usesConfig, Syntax.NONE, handler);
        }

        boolean implemented() {
            return handler != null;
        }
    }

    /**
     * What a command takes besides {@code --config}/{@code --set}/{@code --help}.
     *
     * @param minArgs     fewest positional arguments
     * @param maxArgs     most positional arguments
     * @param flags       options without a value, e.g. {@code --yes}
     * @param valued      options with a value ({@code --opt V} or {@code --opt=V})
     * @param passThrough unknown options are positional arguments (for xl's own options)
     */
    record Syntax(int minArgs, int maxArgs, Set<String> flags, Set<String> valued, boolean passThrough) {
        static final Syntax NONE = new Syntax(0, 0, Set.of(), Set.of(), false);
    }

    /**
     * The command table, in help order. Later commands get a row here: until their handler exists they
     * are listed as planned and refused with exit status 2.
     */
    static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        add(new Command("daemon", "run the backend in the foreground until SIGTERM or SIGINT",
                "daemon [--config FILE] [--set KEY=VALUE]...",
                "Serves the vTPMs of backend/vtpm in xenstore: one swtpm per vTPM uuid, state in state-dir.\n"
                        + "Runs in the foreground and logs to stderr (systemd: Type=simple). On SIGTERM or SIGINT it\n"
                        + "detaches from the guests without disturbing them; a restarted daemon re-attaches.\n"
                        + "Exits 78 at once, with one line saying why, if the configuration file is invalid, state-dir or\n"
                        + "runtime-dir is not private (a symbolic link, another owner, writable by others; state-dir not\n"
                        + "0700), or the master key is missing while sealed records exist (or its credential is not\n"
                        + "passed); systemd does not restart it then. Exits 1 if swtpm does not run, a folder cannot be\n"
                        + "created, the master key is not a private regular file of this uid, the Xen side cannot be\n"
                        + "opened or xenstored does not answer. When stderr is the journal, every log record is one\n"
                        + "entry with its syslog priority and no time stamp of its own. On\n"
                        + "the first start, with no sealed record at all, it makes the master key and logs a warning to\n"
                        + "back it up ('vtpmback init' does the same explicitly). Exits 70, after one 'fatal:' line, if\n"
                        + "any of its threads fails with an Error (e.g. OutOfMemoryError) or an uncaught exception: its\n"
                        + "swtpm processes keep the guests' TPMs and the restarted daemon takes them over.\n\n"
                        + CONFIG_OPTIONS,
                true, DaemonCommand::run));
        add(new Command("check", "show the effective configuration and check swtpm, Xen, xenstored and directories",
                "check [--config FILE] [--set KEY=VALUE]...",
                "Prints the configuration the daemon would use, then one OK, WARN or FAIL line per check: swtpm\n"
                        + "runs (swtpm --version); state-dir and runtime-dir are folders of this uid, not symbolic links,\n"
                        + "not writable by group or others (state-dir 0700), or can be created; runtime-dir is on tmpfs\n"
                        + "(WARN if not); the master key is a regular file of this uid, mode 0600 or stricter, 32 bytes\n"
                        + "(WARN if there is none yet and nothing is stored; FAIL if sealed records exist without it); the\n"
                        + "Xen libraries and devices open (host=xen); xenstored answers. Changes nothing. Exits 1 if any\n"
                        + "check failed.\n\n" + CONFIG_OPTIONS,
                true, CheckCommand::run));
        add(new Command("version", "print the version", "version",
                "Prints 'vtpmback <version>'.\n\nOptions:\n  -h, --help        show this help\n",
                false, (inv, config) -> {
                    inv.out().println(PROGRAM + " " + Version.get());
                    return OK;
                }));
        add(new Command("restore", "restore a saved domain with stock xl so that its vTPM resumes",
                "restore [--config FILE] [--set KEY=VALUE]... [xl restore options] [<ConfigFile>] <CheckpointFile>",
                "Runs 'xl restore -p' with the given options and files (xl's own syntax), finds the new domain\n"
                        + "with 'xl list', sets resume = True on each of its vtpm backends in xenstore (one transaction),\n"
                        + "then 'xl unpause'. The vTPM then continues from the snapshot taken when the domain was saved:\n"
                        + "PCRs and loaded objects as they were. Use it instead of 'xl restore' for domains with a vTPM\n"
                        + "(libxl 4.17 always writes resume = False). It never destroys anything: if a step fails it\n"
                        + "says what state the domain is in and what to run next. The xl command is 'xl' in PATH.\n\n"
                        + CONFIG_OPTIONS,
                true, new Syntax(1, Integer.MAX_VALUE, Set.of(), Set.of(), true), ToolstackCommands::restore));
        add(new Command("resume-domain", "mark a paused, migrated-in domain's vTPMs for resume and unpause it",
                "resume-domain [--config FILE] [--set KEY=VALUE]... <domid|name>",
                "The receiving side of a migration: run 'xl migrate -p <domain> <host>' on the source (the\n"
                        + "destination domain stays paused), then on the destination 'vtpmback resume-domain <name>':\n"
                        + "sets resume = True on the domain's vtpm backends and runs 'xl unpause'. Also finishes a restore\n"
                        + "done with 'xl restore -p' by hand.\n\n" + CONFIG_OPTIONS,
                true, new Syntax(1, 1, Set.of(), Set.of(), false), ToolstackCommands::resumeDomain));
        add(new Command("list", "list the stored vTPMs and their state",
                "list [--config FILE] [--set KEY=VALUE]...",
                "One line per vTPM in state-dir: uuid, TPM family, generation (count of saves), how its last\n"
                        + "incarnation ended, whether a suspend snapshot is kept, creation time, and 'in use' if a\n"
                        + "running daemon holds it. A file that cannot be opened is listed as UNREADABLE with the reason,\n"
                        + "and the command ends with 'N records unreadable: ...' and exit status 1. If the master key is\n"
                        + "missing while records exist, that is one line naming the key's path and exit status 1.\n\n"
                        + CONFIG_OPTIONS,
                true, Syntax.NONE, InstanceCommands::list));
        add(new Command("delete", "delete a stored vTPM (its keys and NV are gone for good)",
                "delete [--config FILE] [--set KEY=VALUE]... --yes <uuid>",
                "Deletes the vTPM's sealed state file. Refused while the vTPM is in use (a running daemon has its\n"
                        + "runtime folder). Requires --yes: the TPM's keys, NV and EK cannot be recovered afterwards\n"
                        + "(export it first if unsure). The next domain with this uuid gets a newly manufactured TPM.\n\n"
                        + "  --yes             really delete\n" + CONFIG_OPTIONS,
                true, new Syntax(1, 1, Set.of("--yes"), Set.of(), false), InstanceCommands::delete));
        add(new Command("export", "write a vTPM to a passphrase-protected bundle for another host",
                "export [--config FILE] [--set KEY=VALUE]... [--passphrase-file F] <uuid> <bundle>",
                "Writes the stored vTPM (permanent state, and the suspend snapshot if the domain was saved) to\n"
                        + "<bundle>, sealed with AES-256-GCM under a key derived from a passphrase (PBKDF2-HMAC-SHA256,\n"
                        + "600000 iterations, random salt); the uuid is bound to the bundle. The host's master key\n"
                        + "never leaves the host. The passphrase is the first line of F, or of stdin without\n"
                        + "--passphrase-file. A vTPM in use is exported as of its last checkpoint (keys and NV, no PCRs).\n\n"
                        + "  --passphrase-file F  read the passphrase from F\n" + CONFIG_OPTIONS,
                true, new Syntax(2, 2, Set.of(), Set.of("--passphrase-file"), false), InstanceCommands::export));
        add(new Command("import", "store a vTPM from a bundle written by export",
                "import [--config FILE] [--set KEY=VALUE]... [--passphrase-file F] [--replace [--allow-rollback]] <bundle>",
                "Opens <bundle> with the passphrase (first line of F, or of stdin) and stores the vTPM under its\n"
                        + "uuid, sealed with this host's master key. Refuses to overwrite a stored vTPM unless --replace,\n"
                        + "and always refuses while that vTPM is in use. A bundle holding a suspend snapshot can then be\n"
                        + "resumed with 'vtpmback restore' of the domain's save file. It never makes a master key: on a new\n"
                        + "host run 'vtpmback init' first. A bundle older (by generation) than what this host has committed\n"
                        + "for the vTPM, including one it deleted, is refused: it would roll the TPM's NV counters and\n"
                        + "dictionary-attack lockout back.\n\n"
                        + "  --passphrase-file F  read the passphrase from F\n"
                        + "  --replace            overwrite the stored vTPM of the same uuid\n"
                        + "  --allow-rollback     store an older bundle anyway (logged as a warning)\n" + CONFIG_OPTIONS,
                true, new Syntax(1, 1, Set.of("--replace", "--allow-rollback"), Set.of("--passphrase-file"), false),
                InstanceCommands::importBundle));
        add(new Command("init", "prepare this host: state-dir and a new master key (once, explicitly)",
                "init [--config FILE] [--set KEY=VALUE]...",
                "Creates state-dir (mode 0700) if missing, checks state-dir and runtime-dir as the daemon does, then\n"
                        + "makes the master key (32 random bytes, mode 0600) at master-key (default <state-dir>/master.key)\n"
                        + "and says how to back it up. Refuses if a key is already there, and if state-dir holds sealed vTPM\n"
                        + "records without their key: a new key opens none of them (restore the key from its backup).\n"
                        + "The daemon's first start on a host with no record does the same; no command ever makes a key\n"
                        + "while sealed records exist.\n\n" + CONFIG_OPTIONS,
                true, Syntax.NONE, InitCommand::run));
    }

    private static void add(Command c) {
        COMMANDS.put(c.name(), c);
    }

    private static void planned(String name, String summary) {
        add(new Command(name, summary, name, "Not implemented in this version.\n", false, null));
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
        try {
            return dispatch(args, out, err, lifecycle);
        } finally {
            LogSetup.flush(); // the log is written off the caller's thread: let its last lines out, within a bound
        }
    }

    private static int dispatch(String[] args, PrintStream out, PrintStream err, Lifecycle lifecycle) {
        String context = PROGRAM;
        try {
            if (args.length == 0) {
                throw new UsageException("no command given");
            }
            String first = args[0];
            if (first.equals("-h") || first.equals("--help")) {
                out.print(globalHelp());
                return OK;
            }
            if (first.equals("--version") || first.equals("-V")) {
                out.println(PROGRAM + " " + Version.get());
                return OK;
            }
            if (first.equals("help")) {
                if (args.length == 1) {
                    out.print(globalHelp());
                    return OK;
                }
                if (args.length > 2) {
                    throw new UsageException("help takes at most one command, got " + (args.length - 1) + " arguments");
                }
                out.print(commandHelp(command(args[1])));
                return OK;
            }
            if (first.startsWith("-")) {
                throw new UsageException("unknown option '" + first + "' (command options go after the command)");
            }
            Command c = command(first);
            context = PROGRAM + " " + c.name();
            Optional<Path> config = Optional.empty();
            List<String> overrides = new ArrayList<>();
            List<String> positional = new ArrayList<>();
            Map<String, String> options = new LinkedHashMap<>();
            Syntax syntax = c.syntax();
            boolean help = false;
            for (int i = 1; i < args.length; i++) {
                String a = args[i];
                String optName = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
                if (a.equals("-h") || a.equals("--help")) {
                    help = true;
                } else if (syntax.flags().contains(a)) {
                    options.put(a, "");
                } else if (syntax.valued().contains(optName)) {
                    String v = a.equals(optName) ? value(args, ++i, a) : a.substring(optName.length() + 1);
                    if (options.put(optName, v) != null) {
                        throw new UsageException(optName + " given twice");
                    }
                } else if (c.usesConfig() && (a.equals("--config") || a.startsWith("--config="))) {
                    if (config.isPresent()) {
                        throw new UsageException("--config given twice");
                    }
                    String v = a.equals("--config") ? value(args, ++i, a) : a.substring("--config=".length());
                    config = Optional.of(path(v));
                } else if (c.usesConfig() && (a.equals("--set") || a.startsWith("--set="))) {
                    String v = a.equals("--set") ? value(args, ++i, a) : a.substring("--set=".length());
                    if (v.indexOf('=') <= 0) {
                        throw new UsageException("--set " + v + ": expected --set KEY=VALUE");
                    }
                    overrides.add(v);
                } else if (a.startsWith("-") && !syntax.passThrough()) {
                    throw new UsageException("unknown option '" + a + "'");
                } else if (positional.size() >= syntax.maxArgs()) {
                    throw new UsageException("unexpected argument '" + a + "'");
                } else {
                    positional.add(a);
                }
            }
            if (help) {
                out.print(commandHelp(c));
                return OK;
            }
            if (c.implemented() && positional.size() < syntax.minArgs()) {
                throw new UsageException("missing argument; usage: " + PROGRAM + " " + c.usage());
            }
            if (!c.implemented()) {
                err.println(context + ": not implemented in this version (planned)");
                return USAGE;
            }
            Invocation inv = new Invocation(c.name(), config, overrides, positional, options, out, err, lifecycle);
            VtpmbackConfig cfg;
            try {
                cfg = inv.loadConfig();
            } catch (ConfigException e) {
                err.println(errorLine(err, context + ": " + e.getMessage()));
                if (e.commandLine()) {
                    err.println("Try '" + context + " --help'.");
                    return USAGE;
                }
                return CONFIG;
            }
            LogSetup.configure(cfg.logLevel(), err); // every command: its log lines look the same as the daemon's
            return c.handler().run(inv, cfg);
        } catch (UsageException e) {
            err.println(context + ": " + e.getMessage());
            err.println("Try '" + (context.equals(PROGRAM) ? PROGRAM : context) + " --help'.");
            return USAGE;
        }
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
    private static String errorLine(PrintStream err, String text) {
        return errorLine(JournalStream.isStderr(err), text);
    }

    static String errorLine(boolean journal, String text) {
        return journal ? "<3>" + OneLineFormatter.escape(text) : text;
    }

    private static Command command(String name) throws UsageException {
        Command c = COMMANDS.get(name);
        if (c == null) {
            throw new UsageException("unknown command '" + name + "'; commands: " + String.join(", ", implementedNames()));
        }
        return c;
    }

    private static String value(String[] args, int i, String option) throws UsageException {
        if (i >= args.length) {
            throw new UsageException(option + " needs a value");
        }
        return args[i];
    }

    private static Path path(String v) throws UsageException {
        try {
            if (v.isEmpty()) {
                throw new UsageException("--config needs a file name");
            }
            return Path.of(v);
        } catch (InvalidPathException e) {
            throw new UsageException("--config " + v + ": not a path (" + e.getReason() + ")");
        }
    }

    private static List<String> implementedNames() {
        List<String> names = new ArrayList<>();
        COMMANDS.values().stream().filter(Command::implemented).forEach(c -> names.add(c.name()));
        return names;
    }

    static String globalHelp() {
        StringBuilder sb = new StringBuilder();
        sb.append("Usage: ").append(PROGRAM).append(" <command> [options]\n")
                .append("       ").append(PROGRAM).append(" --help | --version\n\n")
                .append("Xen vTPM backend: serves Linux xen-tpmfront guests with one swtpm per vTPM uuid.\n\n")
                .append("Commands:\n");
        List<String> planned = new ArrayList<>();
        for (Command c : COMMANDS.values()) {
            if (c.implemented()) {
                sb.append(String.format("  %-16s %s%n", c.name(), c.summary()));
            } else {
                planned.add(c.name());
            }
        }
        sb.append(String.format("  %-16s %s%n", "help [COMMAND]", "show this help, or a command's"));
        if (!planned.isEmpty()) {
            sb.append("\nPlanned, not in this version: ").append(String.join(", ", planned)).append('\n');
        }
        sb.append("\nRun '").append(PROGRAM).append(" <command> --help' for a command's options.\n")
                .append("Exit status: 0 success, 1 failure, 2 usage error, 78 configuration error (fix the\n")
                .append("configuration, state-dir or master key; systemd does not restart the daemon on it);\n")
                .append("the daemon: 70 after a fatal error.\n");
        return sb.toString();
    }

    static String commandHelp(Command c) {
        return "Usage: " + PROGRAM + " " + c.usage() + "\n\n" + c.summary().substring(0, 1).toUpperCase(java.util.Locale.ROOT)
                + c.summary().substring(1) + ".\n\n" + c.help();
    }
}
