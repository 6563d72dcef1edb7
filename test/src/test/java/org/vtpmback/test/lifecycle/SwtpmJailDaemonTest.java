package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * Issue 9 finding 3 through the packaged daemon at its defaults (swtpm-jail = yes): the swtpm of a
 * running guest's vTPM, seen in {@code /proc} and from inside its own mount namespace, is not root,
 * has no capabilities, runs seccomp, and sees neither the daemon's master key and sealed records nor
 * the other guest's vTPM folder. Before the jail, swtpm ran as root with the daemon's full view.
 */
@UseXenstored
@Timeout(240)
class SwtpmJailDaemonTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private SimulatedVtpmHost host;
    private DaemonProcess daemon;

    @BeforeEach
    void start(XenstoredDaemon xsd) throws Exception {
        assumeTrue(DaemonProcess.isRoot(), "the jail needs root, as the daemon on a dom0 has");
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

    private Path folder(String uuid) {
        return work.resolve("daemon/run/instances/" + uuid);
    }

    private long swtpmPid(String uuid) throws IOException {
        return Long.parseLong(Files.readString(folder(uuid).resolve("swtpm.pid")).strip());
    }

    private static Map<String, String> status(long pid) throws IOException {
        Map<String, String> m = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            int colon = line.indexOf(':');
            m.put(line.substring(0, colon), line.substring(colon + 1).trim());
        }
        return m;
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return "rc=" + p.waitFor() + " " + out.strip();
    }

    @Test
    void aGuestsSwtpmIsUnprivilegedAndSeesOnlyItsOwnFolder() throws Exception {
        String a = UUID.randomUUID().toString();
        String b = UUID.randomUUID().toString();
        Guest ga = host.boot(a);
        host.boot(b);
        assertTrue(GuestTpm.pcr(ga, 16).length() > 0, "the jailed vTPM answers its guest");

        long pid = swtpmPid(a);
        Map<String, String> st = status(pid);
        String uid = st.get("Uid").split("\\s+")[0];
        assertNotEquals("0", uid);
        assertTrue(st.get("Uid").matches("(" + uid + "\\s+){3}" + uid), st.get("Uid"));
        assertNotEquals(uid, status(swtpmPid(b)).get("Uid").split("\\s+")[0], "each vTPM its own uid");
        assertEquals("", st.get("Groups"));
        for (String cap : List.of("CapPrm", "CapEff", "CapBnd", "CapAmb")) {
            assertEquals(0L, Long.parseLong(st.get(cap), 16), cap);
        }
        assertEquals("1", st.get("NoNewPrivs"));
        assertEquals("2", st.get("Seccomp"));

        Path masterKey = work.resolve("daemon/state/master.key");
        assertTrue(Files.exists(masterKey));
        List<String> inside = List.of("nsenter", "-t", Long.toString(pid), "-m", "-S", uid, "-G", uid, "--");
        assertTrue(run(concat(inside, "ls", folder(a).toString())).contains("tpm2-00.permall"), "its own state is there");
        for (Path hidden : List.of(masterKey, work.resolve("daemon/state/instances"), folder(b))) {
            String seen = run(concat(inside, "ls", hidden.toString()));
            assertTrue(seen.contains("No such file"), hidden + ": " + seen);
        }
    }

    private static List<String> concat(List<String> head, String... tail) {
        List<String> all = new java.util.ArrayList<>(head);
        all.addAll(List.of(tail));
        return all;
    }
}
