package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.hotplug.cli.Main;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * {@code vtpmback status} against a running daemon (its own process, as an operator runs both): each device's
 * domain, vTPM, start mode, xenbus state, commands, swtpm pid and memory and stored generation, as a table and
 * as JSON; after a reload the successor answers; with no daemon the command fails and says what to check.
 */
@UseXenstored
@Timeout(600)
class DaemonStatusTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private SimulatedVtpmHost host;
    private DaemonProcess daemon;

    @BeforeEach
    void start(XenstoredDaemon xsd) throws Exception {
        daemon = DaemonProcess.start(xsd.socket(), work.resolve("sim"), work.resolve("daemon"), "default-tpm-family=2.0");
        host = new SimulatedVtpmHost(xsd.socket(), Files.createDirectories(work.resolve("guests")), work.resolve("sim"));
    }

    @AfterEach
    void stop() throws Exception {
        if (host != null) {
            host.close();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    private record Run(int status, String out, String err) {
    }

    private Run status(String... extra) {
        return command("status", extra);
    }

    /** {@code vtpmback <command>} on the daemon's folders, in this JVM. */
    private Run command(String command, String... extra) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new java.util.ArrayList<>(List.of(command, "--set", "runtime-dir=" + work.resolve("daemon/run"),
                "--set", "state-dir=" + work.resolve("daemon/state"), "--set", "master-key=" + work.resolve("daemon/state/master.key")));
        args.addAll(List.of(extra));
        int rc = Main.run(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private long swtpmPid(String uuid) throws Exception {
        return Long.parseLong(Files.readString(work.resolve("daemon/run/instances/" + uuid + "/swtpm.pid")).strip());
    }

    @Test
    void statusShowsEachDeviceItsVtpmAndItsSwtpm() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_getrandom", "--hex", "8");

        Run json = status("--json");
        assertEquals(0, json.status(), json.err());
        String device = "{\"domid\":" + g.domid() + ",";
        assertTrue(json.out().contains(device), json.out());
        assertTrue(json.out().contains("\"daemon_pid\":" + daemon.pid()), json.out());
        assertTrue(json.out().contains("\"uuid\":\"" + uuid + "\",\"family\":\"2.0\",\"start_mode\":\"MANUFACTURE\""
                + ",\"state\":\"CONNECTED\""), json.out());
        assertTrue(json.out().contains("\"swtpm_pid\":" + swtpmPid(uuid) + ",\"swtpm_rss_kib\":"), json.out());
        Matcher commands = Pattern.compile("\"commands\":(\\d+),\"idle_s\":([0-9.]+)").matcher(json.out());
        assertTrue(commands.find(), json.out());
        assertTrue(Long.parseLong(commands.group(1)) > 0, "commands served: " + json.out());
        Matcher generation = Pattern.compile("\"generation\":(\\d+)").matcher(json.out());
        assertTrue(generation.find() && Long.parseLong(generation.group(1)) >= 1, json.out());

        Run table = status();
        assertEquals(0, table.status(), table.err());
        assertTrue(table.out().startsWith("vtpmback "), table.out());
        assertTrue(table.out().contains("pid " + daemon.pid() + ": 1 device"), table.out());
        assertTrue(table.out().matches("(?s).*\\n\\s*" + g.domid() + "\\s+\\S+\\s+0\\s+" + uuid + "\\s+2\\.0\\s+MANUFACTURE\\s+CONNECTED\\s.*"),
                table.out());

        // list names the domain that uses each stored vTPM, as the daemon says
        Run list = command("list", "--json");
        assertEquals(0, list.status(), list.err());
        assertTrue(list.out().contains("\"uuid\":\"" + uuid + "\"") && list.out().contains("\"in_use\":true,\"domid\":" + g.domid()
                + ",\"domain\":\"guest" + g.domid() + "\""), list.out());
        assertTrue(command("list").out().contains("domain " + g.domid() + " (guest" + g.domid() + ")"), command("list").out());

        // a reload's successor serves the socket once it serves the guests
        daemon = daemon.reload();
        Run after = status("--json");
        assertEquals(0, after.status(), after.err());
        assertTrue(after.out().contains("\"daemon_pid\":" + daemon.pid()), after.out());
        assertTrue(after.out().contains("\"uuid\":\"" + uuid + "\""), after.out());
    }

    @Test
    void withoutADaemonStatusFailsAndSaysWhatToCheck() throws Exception {
        daemon.close();
        daemon = null;
        Run run = status();
        assertEquals(1, run.status());
        assertTrue(run.err().contains("no vtpmback daemon answers on " + work.resolve("daemon/run/control.sock")), run.err());
        assertTrue(run.err().contains("systemctl status vtpmback"), run.err());
    }
}
