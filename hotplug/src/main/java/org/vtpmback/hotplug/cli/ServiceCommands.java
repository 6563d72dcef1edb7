package org.vtpmback.hotplug.cli;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code daemon}, {@code check}, {@code init}, {@code cds-archive}, {@code version}: running and preparing this host. */
final class ServiceCommands {
    private ServiceCommands() {
    }

    @Command(name = "daemon", header = "run the backend in the foreground until SIGTERM or SIGINT; SIGHUP hands over to a new daemon",
            description = {
                "Serves the vTPMs of backend/vtpm in xenstore: one swtpm per vTPM uuid, state in state-dir. Runs in the"
                        + " foreground and logs to stderr. On SIGTERM or SIGINT it detaches from the guests without"
                        + " disturbing them; a restarted daemon re-attaches.",
                "",
                "Exits 78 at once, with one line saying why, if the configuration file is invalid, state-dir or"
                        + " runtime-dir is not private (a symbolic link, another owner, writable by others; state-dir not"
                        + " 0700), or the master key is missing while sealed records exist (or its credential is not"
                        + " passed); systemd does not restart it then. Exits 1 if swtpm does not run, a folder cannot be"
                        + " created, the master key is not a private regular file of this uid, the Xen side cannot be"
                        + " opened or xenstored does not answer. When stderr is the journal, every log record is one"
                        + " entry with its syslog priority and no time stamp of its own.",
                "",
                "On SIGHUP (systemctl reload, and the package's upgrade) it starts a new daemon with the same command"
                        + " line, the current configuration file and the installed version, keeps serving until that one is"
                        + " ready, then hands the guests over to it and exits 0; the guests' commands wait only for the"
                        + " hand-over, not for a JVM start. If the new daemon fails (a bad configuration: exit 78), this one"
                        + " keeps serving and logs 'reload failed, still serving'.",
                "",
                "On the first start, with no sealed record at all, it makes the master key and logs a warning to"
                        + " back it up ('vtpmback init' does the same explicitly). Exits 70, after one 'fatal:' line, if"
                        + " any of its threads fails with an Error (e.g. OutOfMemoryError) or an uncaught exception: its"
                        + " swtpm processes keep the guests' TPMs and the restarted daemon takes them over."})
    static final class Daemon extends ConfiguredCommand {
        @Override
        public Integer call() {
            return execute(DaemonCommand::run);
        }
    }

    @Command(name = "check",
            header = "show the effective configuration and check swtpm, Xen, xenstored and directories",
            description = {
                "Prints the configuration the daemon would use, then one OK, WARN or FAIL line per check: swtpm"
                        + " runs (swtpm --version); state-dir and runtime-dir are folders of this uid, not symbolic links,"
                        + " not writable by group or others (state-dir 0700), or can be created; runtime-dir is on tmpfs"
                        + " (WARN if not); the master key is a regular file of this uid, mode 0600 or stricter, 32 bytes"
                        + " (WARN if there is none yet and nothing is stored; FAIL if sealed records exist without it);"
                        + " the Xen libraries and devices open (host=xen); xenstored answers; this Java maps the class-data"
                        + " sharing archive (WARN if not: starts are slower; see cds-archive). With store = etcd also:"
                        + " each of etcd-endpoints answers GET /health (over TLS with etcd-ca, etcd-cert and etcd-key when"
                        + " set; etcd-member, one line each), a lease can be granted and is revoked at once (etcd-lease), and"
                        + " etcd-prefix can be read (etcd-prefix). Changes nothing. Exits 1 if any check failed.",
                "",
                "With --json, standard output is one JSON object instead: version (string), config_file (string, or"
                        + " null for the built-in defaults), config (object: every key of vtpmback.conf(5) to its"
                        + " effective value as a string, \"\" if unset), checks (array of objects: name, status \"OK\","
                        + " \"WARN\" or \"FAIL\", detail), failed and warnings (numbers)."})
    static final class Check extends ConfiguredCommand {
        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of the lines")
        boolean json;

        @Override
        public Integer call() {
            return execute(CheckCommand::run, List.of(), json ? Map.of(ListCommand.JSON, "") : Map.of());
        }
    }

    @Command(name = "init", header = "prepare this host: state-dir and a new master key (once, explicitly)",
            description = {
                "Creates state-dir (mode 0700) if missing, checks state-dir and runtime-dir as the daemon does, then"
                        + " makes the master key (32 random bytes, mode 0600) at master-key (default"
                        + " <state-dir>/master.key) and says how to back it up. Refuses if a key is already there, and"
                        + " if state-dir holds sealed vTPM records without their key: a new key opens none of them"
                        + " (restore the key from its backup). The daemon's first start on a host with no record does"
                        + " the same; no command ever makes a key while sealed records exist."})
    static final class Init extends ConfiguredCommand {
        @Override
        public Integer call() {
            return execute(InitCommand::run);
        }
    }

    @Command(name = "cds-archive", header = "make the class-data sharing archive that shortens every start",
            description = {
                "Makes the archive the launcher starts the JVM from (/var/cache/vtpmback/vtpmback.jsa for the package,"
                        + " vtpmback.jsa next to lib/ for the distribution folder; VTPMBACK_CDS_ARCHIVE names another):"
                        + " the classes a daemon start loads, parsed and verified, from the class list the build recorded"
                        + " (vtpmback.classlist). It takes 5-15 s and replaces the archive in one step.",
                "",
                "An archive is valid only for the Java build, the jars and the heap and GC options it was made with;"
                        + " the JVM ignores any other, and the start is then only slower (the daemon logs a warning and"
                        + " 'vtpmback check' says so). The package runs this command after installing or upgrading"
                        + " itself or any Java runtime (a dpkg trigger on /usr/lib/jvm); run it by hand after switching"
                        + " the java alternative, changing VTPMBACK_MAX_HEAP or the GC in VTPMBACK_JAVA_OPTS, as the user"
                        + " the daemon runs as (the launcher uses only an archive of its own user that nobody else may"
                        + " write). Exits 1 if it cannot be made: the daemon still starts, more slowly."})
    static final class CdsArchive implements Callable<Integer> {
        @ParentCommand
        VtpmbackCommand root;

        @Mixin
        HelpOption help;

        @Override
        public Integer call() {
            return CdsArchiveCommand.run(root);
        }
    }

    @Command(name = "version", header = "print the version", description = "Prints 'vtpmback <version>'.")
    static final class Version implements Callable<Integer> {

        @ParentCommand
        VtpmbackCommand root;

        @Mixin
        HelpOption help;

        @Override
        public Integer call() {
            root.out().println(new VtpmbackCommand.VersionText().getVersion()[0]);
            return Main.OK;
        }
    }

    @Command(name = "status", header = "show what the running daemon serves: each device, its vTPM and its swtpm",
            description = {
                "Asks the running daemon over its control socket (<runtime-dir>/control.sock, root only) and prints one"
                        + " row per device it handles: domain id and name, devid, vTPM uuid and family, the start mode of"
                        + " this attach (MANUFACTURE, CLEAR, RESTORE, ...), the backend's xenbus state, commands served"
                        + " since the guest connected, seconds since the last one, the swtpm's pid and resident memory,"
                        + " the stored generation of the vTPM's record, and what is wrong with where its state is stored"
                        + " ('-' if nothing: else its checkpoints are only in the commit log because folding them into"
                        + " its record file fails, or the commit log is out of use after a disk error; the daemon's log"
                        + " has an ERROR that says what to do). A device whose guest has not connected yet"
                        + " shows only its ids and state. Exits 1 if no daemon answers.",
                "",
                "With --json: one object {daemon_pid, version, devices: [...]} whose device fields are domid, domain,"
                        + " devid, uuid, family, start_mode, state, commands, idle_s, swtpm_pid, swtpm_rss_kib,"
                        + " generation and store_problem (null where the table shows '-')."})
    static final class Status extends ConfiguredCommand {
        @Option(names = StatusCommand.JSON, description = "print one JSON object (fields above) instead of the table")
        boolean json;

        @Override
        public Integer call() {
            return execute(StatusCommand::run, List.of(), json ? Map.of(StatusCommand.JSON, "") : Map.of());
        }
    }
}
