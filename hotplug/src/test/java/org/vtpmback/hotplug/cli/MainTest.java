package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path tmp;

    /** One in-process run: exit status and what it printed. */
    record Run(int status, String out, String err) {
    }

    private Run run(String... args) {
        return run(Lifecycle.JVM, args);
    }

    private Run run(Lifecycle lifecycle, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(args, o, e, lifecycle);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Options that keep a run inside the temp folder and away from any real xenstored. */
    private List<String> sandbox(String command, String host, String... more) {
        List<String> args = new ArrayList<>(List.of(command));
        for (String s : new String[] {
                "state-dir=" + tmp.resolve("state"),
                "runtime-dir=" + tmp.resolve("run"),
                "host=" + host,
                "simulation-dir=" + tmp.resolve("sim"),
                "xenstored-socket=" + tmp.resolve("no-xenstored.sock"),
                "log-level=warn"}) {
            args.add("--set");
            args.add(s);
        }
        args.addAll(List.of(more));
        return args;
    }

    @Test
    void noArgumentsIsAUsageError() {
        Run r = run();
        assertEquals(2, r.status());
        assertTrue(r.err().contains("vtpmback: no command given"), r.err());
        assertTrue(r.err().contains("Try 'vtpmback --help'."), r.err());
    }

    @Test
    void helpListsTheCommands() {
        Run r = run("--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("Usage: vtpmback <command> [options]"), r.out());
        for (String c : List.of("daemon", "check", "version", "help")) {
            assertTrue(r.out().contains("\n  " + c + " "), c + " listed in:\n" + r.out());
        }
        for (String c : List.of("restore", "resume-domain", "list", "delete", "export", "import")) {
            assertTrue(r.out().contains("\n  " + c + " "), c + " listed in:\n" + r.out());
        }
        assertFalse(r.out().contains("Planned"), r.out());
        assertEquals(r.out(), run("help").out());
        assertEquals(r.out(), run("-h").out());
    }

    @Test
    void commandHelpShowsItsOptions() {
        Run r = run("daemon", "--help");
        assertEquals(0, r.status());
        assertTrue(r.out().startsWith("Usage: vtpmback daemon [-h] [--config=FILE] [--set=KEY=VALUE]..."), r.out());
        assertTrue(r.out().contains("\nOptions:\n"), r.out());
        assertTrue(r.out().contains("--config=FILE"));
        assertTrue(r.out().contains("tpm-family.<uuid>"));
        assertEquals(r.out(), run("help", "daemon").out());
        assertTrue(run("check", "-h").out().startsWith("Usage: vtpmback check"));
    }

    @Test
    void unknownCommandIsAUsageError() {
        Run r = run("serve");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("vtpmback: unknown command 'serve'; commands: daemon, status, check, version, restore"), r.err());
        assertEquals(2, run("help", "serve").status());
    }

    @Test
    void unknownOptionIsAUsageError() {
        Run r = run("check", "--verbose");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("vtpmback check: unknown option '--verbose'"), r.err());
        assertTrue(r.err().contains("Try 'vtpmback check --help'."), r.err());
        assertEquals(2, run("--config", "/x", "check").status());
        assertEquals(2, run("version", "--config", "/x").status(), "version takes no configuration");
    }

    @Test
    void missingOptionValueIsAUsageError() {
        Run r = run("daemon", "--config");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("vtpmback daemon: Missing required parameter for option '--config' (FILE)"), r.err());
        Run s = run("daemon", "--set", "log-level");
        assertEquals(2, s.status());
        assertTrue(s.err().contains("expected --set KEY=VALUE"), s.err());
        assertEquals(2, run("check", "extra").status());
    }

    @Test
    void badSetValueIsAUsageError() {
        Run r = run("check", "--set", "default-tpm-family=3.0");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--set default-tpm-family=3.0: bad value for default-tpm-family"), r.err());
    }

    @Test
    void anEtcdStoreWithoutEndpointsExitsSeventyEightSayingWhatToSet() throws Exception {
        Path conf = tmp.resolve("pool.conf");
        Files.writeString(conf, "store = etcd\n");
        Run r = run("daemon", "--config", conf.toString());
        assertEquals(78, r.status(), r.err());
        assertTrue(r.err().contains(conf + ": store = etcd needs etcd-endpoints: set it to the client URLs"), r.err());
    }

    @Test
    void anEtcdStoreNeverMakesAMasterKeyOfItsOwn() throws Exception {
        Path conf = tmp.resolve("pool-nokey.conf");
        Path state = tmp.resolve("pool-state");
        Files.writeString(conf, "store = etcd\netcd-endpoints = http://127.0.0.1:2379\nstate-dir = " + state + "\nruntime-dir = "
                + tmp.resolve("run") + "\nswtpm-jail = no\n");
        Run r = run("daemon", "--config", conf.toString());
        assertEquals(78, r.status(), r.err());
        assertTrue(r.err().contains("store = etcd and no master key at " + state.resolve("master.key")), r.err());
        assertFalse(Files.exists(state.resolve("master.key")), "no key made");
    }

    @Test
    void badConfigFileExitsSeventyEightNamingTheLine() throws Exception {
        Path conf = tmp.resolve("bad.conf");
        Files.writeString(conf, "log-level = info\nbackend_domid = 0\n");
        Run r = run("check", "--config", conf.toString());
        assertEquals(78, r.status(), "EX_CONFIG, which the unit does not restart on"); // failed before: 1
        assertTrue(r.err().startsWith("vtpmback check: " + conf + ":2: unknown key 'backend_domid'"), r.err());
        Run missing = run("daemon", "--config=" + tmp.resolve("missing.conf"));
        assertEquals(2, missing.status());
        assertTrue(missing.err().contains("missing.conf: no such configuration file"), missing.err());
    }

    /** Failed before: 1, like a runtime failure, so systemd restarted a daemon with a broken file every 2 s. */
    @Test
    void daemonWithAnUnparsableOrInvalidConfigExitsSeventyEight() throws Exception {
        Path garbage = Files.writeString(tmp.resolve("garbage.conf"), "[vtpmback]\nlog-level = info\n");
        Run r = run("daemon", "--config", garbage.toString());
        assertEquals(Main.CONFIG, r.status(), r.err());
        assertTrue(r.err().startsWith("vtpmback daemon: " + garbage + ":1: expected 'key = value', got '[vtpmback]'"), r.err());
        Path invalid = Files.writeString(tmp.resolve("invalid.conf"), "default-tpm-family = 3.0\n");
        Run v = run("daemon", "--config", invalid.toString());
        assertEquals(Main.CONFIG, v.status(), v.err());
        assertTrue(v.err().contains(invalid + ":1: bad value for default-tpm-family"), v.err());
        assertTrue(run("--help").out().lines().anyMatch(l -> l.matches(" +78 +configuration error.*")), "documented in --help");
    }

    /** Failed before: a bad uuid exited 1 although the help says 2 is a usage error. */
    @Test
    void aBadUuidIsAUsageError() {
        Run export = run("export", "--passphrase-file", "/dev/null", "7", tmp.resolve("b").toString());
        assertEquals(Main.USAGE, export.status(), export.err());
        assertTrue(export.err().startsWith("vtpmback export: '7' is not a uuid"), export.err());
        assertTrue(export.err().contains("Try 'vtpmback export --help'."), export.err());
        assertEquals(Main.USAGE, run("delete", "--yes", "xyz").status());
    }

    @Test
    void commandsWithArgumentsCheckThem() {
        Run r = run("restore");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("vtpmback restore: Missing required parameter: '<xl-argument>'"), r.err());
        assertEquals(2, run("resume-domain", "1", "2").status(), "one domain");
        assertEquals(2, run("export", "--passphrase-file").status(), "needs a value");
        assertEquals(2, run("delete", "--force", "x").status(), "unknown option");
        assertTrue(run("restore", "--help").out().startsWith("Usage: vtpmback restore [-h] [--config=FILE]"));
    }

    @Test
    void versionPrintsTheProjectVersion() {
        Run r = run("--version");
        assertEquals(0, r.status());
        assertTrue(r.out().matches("vtpmback \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\\R"), r.out());
        assertEquals(r.out(), run("version").out());
    }

    @Test
    void checkReportsABogusSwtpmByName() {
        List<String> args = sandbox("check", "simulated", "--set", "swtpm=/nonexistent/bogus-swtpm");
        Run r = run(args.toArray(String[]::new));
        assertEquals(1, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("  swtpm = /nonexistent/bogus-swtpm"), "prints the configuration:\n" + r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("FAIL  swtpm: ") && l.contains("/nonexistent/bogus-swtpm")),
                r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("OK    state-dir: ")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("FAIL  xenstored: ")), r.out());
        assertTrue(r.out().contains("checks failed"), r.out());
        assertFalse(Files.exists(tmp.resolve("state")), "check changes nothing");
    }

    /** Failed before: 'check --json' was an unknown option (exit 2). */
    @Test
    void checkJsonIsOneDocument() {
        List<String> args = sandbox("check", "simulated", "--set", "swtpm=/nonexistent/bogus-swtpm", "--json");
        Run r = run(args.toArray(String[]::new));
        assertEquals(1, r.status(), r.out() + r.err());
        assertEquals(1, r.out().lines().count(), r.out());
        String doc = r.out().strip();
        assertTrue(doc.startsWith("{\"version\":\"") && doc.endsWith("}"), doc);
        assertTrue(doc.contains(",\"config_file\":null,\"config\":{\"backend-domid\":\"0\",\"state-dir\":\""), doc);
        assertTrue(doc.contains("\"swtpm\":\"/nonexistent/bogus-swtpm\""), doc);
        assertTrue(doc.contains("{\"name\":\"swtpm\",\"status\":\"FAIL\",\"detail\":\"swtpm '/nonexistent/bogus-swtpm'"), doc);
        assertTrue(doc.contains("{\"name\":\"state-dir\",\"status\":\"OK\","), doc);
        assertTrue(doc.matches(".*\"failed\":[1-9],\"warnings\":\\d+}"), doc);
        assertTrue(run("check", "--help").out().contains("config_file"), "the fields are in the help");
    }

    @Test
    void checkPassesTheRealSwtpmIfInstalled() {
        List<String> args = sandbox("check", "simulated");
        Run r = run(args.toArray(String[]::new));
        boolean haveSwtpm = List.of(System.getenv().getOrDefault("PATH", "").split(":")).stream()
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, "swtpm")));
        if (haveSwtpm) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("OK    swtpm: ") && l.contains("version")), r.out());
        }
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("OK    simulation-dir: ")), r.out());
    }

    @Test
    void daemonWithABogusSwtpmExitsOneNamingIt() {
        List<String> args = sandbox("daemon", "simulated", "--set", "swtpm=/nonexistent/bogus-swtpm");
        Run r = run(noHooks(), args.toArray(String[]::new));
        assertEquals(1, r.status());
        assertTrue(r.err().startsWith("vtpmback daemon: swtpm '/nonexistent/bogus-swtpm' cannot be run"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    /** swtpm is checked in the background while the folders are readied, but its failure is still the one reported. */
    @Test
    void aBogusSwtpmIsReportedBeforeAStateDirThatIsNotPrivate() throws Exception {
        Files.createDirectories(tmp.resolve("state"));
        Files.setPosixFilePermissions(tmp.resolve("state"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        List<String> args = sandbox("daemon", "simulated", "--set", "swtpm=/nonexistent/bogus-swtpm");
        Run r = run(noHooks(), args.toArray(String[]::new));
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().startsWith("vtpmback daemon: swtpm '/nonexistent/bogus-swtpm' cannot be run"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void daemonWithoutXenstoredExitsOne() {
        List<String> args = sandbox("daemon", "simulated", "--set", "swtpm=" + trueBinary());
        Run r = run(noHooks(), args.toArray(String[]::new));
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("vtpmback daemon: cannot connect to xenstored (" + tmp.resolve("no-xenstored.sock")),
                r.err());
    }

    @Test
    void daemonOnXenSaysTheAdaptersAreMissing() {
        List<String> args = sandbox("daemon", "xen", "--set", "swtpm=" + trueBinary());
        Run r = run(noHooks(), args.toArray(String[]::new));
        assertEquals(1, r.status(), r.err());
        // Without Xen: the adapters are missing, or (Xen libraries on LD_LIBRARY_PATH) /dev/xen/gntdev is.
        assertTrue(r.err().contains("vtpmback daemon: cannot open host=xen: "), r.err());
    }

    @Test
    void checkOnXenReportsTheXenSide() {
        Run r = run(sandbox("check", "xen", "--set", "swtpm=" + trueBinary()).toArray(String[]::new));
        assertEquals(1, r.status());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("FAIL  xen: ")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("OK    swtpm: ")), r.out());
    }

    /** A binary that accepts --version and exits 0, standing in for swtpm where it is not installed. */
    private static String trueBinary() {
        return Files.isExecutable(Path.of("/bin/true")) ? "/bin/true" : "/usr/bin/true";
    }

    /** Registers nothing: a test run must not leave a JVM shutdown hook behind. */
    private static Lifecycle noHooks() {
        return stop -> () -> { };
    }
}
