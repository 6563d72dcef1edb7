package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 9 finding 3: swtpm ran as root, unconfined. Seen from the kernel's side of a running jailed
 * swtpm ({@code /proc/<pid>/...}) and from inside its mount namespace ({@code nsenter}): not root, no
 * capabilities, no-new-privs, seccomp on, limits set, an empty environment, and neither another vTPM's
 * folder nor the master key readable. Needs root (the jail does), like the daemon.
 */
@Timeout(120)
class SwtpmJailTest {
    /** Under /run, not /tmp: /tmp is hidden as a whole, here the jail must cover the daemon's folders one by one. */
    private Path tmp;
    private Path stateDir;
    private Path masterKey;
    private EngineFixture fixture;
    private SwtpmLauncher launcher;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(SwtpmSurvivor.uidsOf(Path.of("/proc/self")).get(1) == 0, "the jail needs root");
        tmp = Files.createTempDirectory(Path.of("/run"), "vtpmback-jail-");
        // laid out as the daemon's: /run/vtpmback-jail-* like /run, and every vTPM folder in a runtime-dir
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path run = Files.createDirectories(tmp.resolve("run"));
        stateDir = Files.createDirectories(tmp.resolve("state"));
        masterKey = Files.writeString(stateDir.resolve("master.key"), "secret");
        SwtpmConfig config = SwtpmConfig.defaults(tmp.resolve("run"))
                .withJail(SwtpmJail.defaults(List.of(stateDir, tmp.resolve("run"))));
        launcher = new SwtpmLauncher(config);
        fixture = new EngineFixture(run, config);
    }

    @AfterEach
    void tearDown() throws IOException {
        if (fixture != null) {
            fixture.close();
        }
        if (tmp != null) {
            org.apache.commons.io.file.PathUtils.deleteDirectory(tmp);
        }
    }

    private static Map<String, String> status(long pid) throws IOException {
        Map<String, String> m = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            int colon = line.indexOf(':');
            m.put(line.substring(0, colon), line.substring(colon + 1).trim());
        }
        return m;
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return "rc=" + p.waitFor() + " " + out.strip();
    }

    @Test
    void aJailedSwtpmIsNotRootHasNoCapabilitiesAndRunsSeccomp() throws Exception {
        SwtpmEngine a = fixture.booted("a", TpmFamily.TPM2, "a");
        assertEquals(0, rc(a.execute(0, pcrExtendSha256(16, digest(1)))), "the jailed TPM works");
        Map<String, String> st = status(a.pid());
        int uid = Integer.parseInt(st.get("Uid").split("\\s+")[0]);

        assertNotEquals(0, uid);
        assertEquals(List.of(uid, uid, uid, uid), Arrays.stream(st.get("Uid").split("\\s+")).map(Integer::valueOf).toList());
        assertEquals(List.of(uid, uid, uid, uid), Arrays.stream(st.get("Gid").split("\\s+")).map(Integer::valueOf).toList());
        assertEquals("", st.get("Groups"), "no supplementary groups");
        for (String cap : List.of("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")) {
            assertEquals(0L, Long.parseLong(st.get(cap), 16), cap);
        }
        assertEquals("1", st.get("NoNewPrivs"));
        assertEquals(1L << (25 - 1), Long.parseLong(st.get("SigIgn"), 16) & (1L << (25 - 1)),
                "SIGXFSZ (25) ignored: a write past the file-size limit fails instead of killing swtpm");
        assertEquals("2", st.get("Seccomp"), "swtpm's seccomp filter is on");
        assertEquals("/usr/bin/swtpm", Files.readSymbolicLink(Path.of("/proc/" + a.pid() + "/exe")).toString(),
                "every step of the jail exec'd the next: the launcher's pid is swtpm's");
        assertEquals(0, Files.readAllBytes(Path.of("/proc/" + a.pid() + "/environ")).length, "an empty environment");
        String limits = Files.readString(Path.of("/proc/" + a.pid() + "/limits"));
        assertTrue(limits.matches("(?s).*Max file size\\s+262144\\s+262144.*"), limits);
        assertTrue(limits.matches("(?s).*Max core file size\\s+0\\s+0.*"), limits);
        assertTrue(limits.matches("(?s).*Max open files\\s+64\\s+64.*"), limits);
        assertTrue(limits.matches("(?s).*Max address space\\s+134217728\\s+134217728.*"), limits);
        assertEquals(uid, Files.getAttribute(fixture.stateDir("a"), "unix:uid"), "its folder is its own");
    }

    @Test
    void insideItsMountNamespaceOnlyItsOwnFolderIsVisible() throws Exception {
        SwtpmEngine a = fixture.booted("a", TpmFamily.TPM2, "a");
        SwtpmEngine b = fixture.booted("b", TpmFamily.TPM2, "b");
        Path permallB = fixture.stateDir("b").resolve("tpm2-00.permall");
        a.saveState(false);
        b.shutdownOrderly();
        assertTrue(Files.exists(permallB), "b has state on disk");
        String uidA = status(a.pid()).get("Uid").split("\\s+")[0];
        assertNotEquals(uidA, status(b.pid()).get("Uid").split("\\s+")[0], "one uid per swtpm");

        String pid = Long.toString(a.pid());
        List<String> asSwtpm = List.of("nsenter", "-t", pid, "-m", "-S", uidA, "-G", uidA, "--");
        assertTrue(run(concat(asSwtpm, "ls", fixture.stateDir("a").toString())).contains("tpm"), "its own folder is there");
        // even root in that namespace finds neither the other vTPM's folder nor the master key
        assertTrue(run("nsenter", "-t", pid, "-m", "--", "ls", "-A", fixture.stateDir("b").toString()).startsWith("rc=2"));
        String rootSees = run("nsenter", "-t", pid, "-m", "--", "cat", masterKey.toString());
        assertTrue(rootSees.startsWith("rc=1") && rootSees.contains("No such file"), rootSees);
        assertTrue(run(concat(asSwtpm, "cat", masterKey.toString())).startsWith("rc=1"));
        assertTrue(run(concat(asSwtpm, "cat", permallB.toString())).startsWith("rc=1"));
        assertTrue(run(concat(asSwtpm, "touch", tmp.resolve("x").toString())).startsWith("rc=1"), "nothing else writable");
        // and without the namespace, swtpm a's uid cannot read b's folder either (0700, b's uid)
        assertTrue(run("setpriv", "--reuid=" + uidA, "--regid=" + uidA, "--clear-groups", "cat", permallB.toString())
                .contains("Permission denied"));
    }

    /**
     * From the kernel's mount table of swtpm's namespace and from root inside it: every covered path is an
     * empty read-only tmpfs (even root cannot write there; the one above the folder holds only the mount
     * point), nothing on it runs or is a device, and the folder alone is writable, by swtpm's uid.
     */
    @Test
    void everyCoveredPathIsAnEmptyReadOnlyTmpfsAndOnlyItsFolderIsWritable() throws Exception {
        SwtpmEngine a = fixture.booted("a", TpmFamily.TPM2, "a");
        String pid = Long.toString(a.pid());
        String uid = status(a.pid()).get("Uid").split("\\s+")[0];
        Path folder = fixture.stateDir("a").toRealPath();
        List<Path> covered = launcherConfig().jail().orElseThrow().coveredPaths();
        assertTrue(covered.containsAll(List.of(tmp.resolve("run").toRealPath(), stateDir.toRealPath(), Path.of("/tmp"))),
                covered.toString());
        List<String[]> mounts = Files.readAllLines(Path.of("/proc/" + pid + "/mountinfo")).stream()
                .map(l -> l.split(" ")).toList();

        for (Path p : covered) {
            String[] top = topMount(mounts, p);
            List<String> flags = List.of(top[5].split(","));
            assertTrue(flags.containsAll(List.of("ro", "nosuid", "nodev", "noexec")), p + ": " + String.join(" ", top));
            String[] fs = afterSeparator(top);
            assertEquals("tmpfs", fs[0], p + ": " + String.join(" ", top));
            assertTrue(fs[1].startsWith("vtpmback-jail-"), p + ": " + String.join(" ", top));
            String rootTouches = run("nsenter", "-t", pid, "-m", "--", "touch", p.resolve("probe").toString());
            assertTrue(rootTouches.startsWith("rc=1") && rootTouches.contains("Read-only file system"), p + ": " + rootTouches);
            String listing = run("nsenter", "-t", pid, "-m", "--", "ls", "-A", p.toString());
            String expected = "rc=0 " + (folder.startsWith(p) ? p.relativize(folder).getName(0) : "");
            assertEquals(expected, listing, p + " is empty but for the way to the folder");
        }
        List<String> folderFlags = List.of(topMount(mounts, folder)[5].split(","));
        assertTrue(folderFlags.containsAll(List.of("rw", "nosuid", "nodev", "noexec")), folderFlags.toString());
        assertEquals("rc=0 ", run("nsenter", "-t", pid, "-m", "-S", uid, "-G", uid, "--", "touch",
                folder.resolve("probe").toString()), "its folder is writable by swtpm's uid");
    }

    /** The mountinfo line of the mount on top at {@code p}: the last one on that mount point. */
    private static String[] topMount(List<String[]> mounts, Path p) {
        String[] top = null;
        for (String[] m : mounts) {
            if (m[4].replace("\\040", " ").equals(p.toString())) {
                top = m;
            }
        }
        assertTrue(top != null, "nothing mounted on " + p);
        return top;
    }

    /** The file system type, source and super options: the fields after mountinfo's " - ". */
    private static String[] afterSeparator(String[] mount) {
        int dash = Arrays.asList(mount).indexOf("-");
        return Arrays.copyOfRange(mount, dash + 1, mount.length);
    }

    @Test
    void aJailedSurvivorIsTakenOverAndItsUidGivenBack() throws Exception {
        SwtpmEngine old = fixture.booted("old", TpmFamily.TPM2, "a");
        assertEquals(0, rc(old.execute(0, pcrExtendSha256(16, digest(7)))));
        byte[] pcr = pcrDigest(old.execute(0, pcrReadSha256(16)));
        old.ctrl().close();
        old.data().close();

        StateBlobs taken = new SwtpmLauncher(launcherConfig()).takeOverSurvivor(fixture.stateDir("a")).orElseThrow();

        SwtpmEngine next = fixture.start("next", TpmFamily.TPM2, "a");
        next.restoreState(taken);
        assertEquals(List.of(pcr.length), List.of(pcrDigest(next.execute(0, pcrReadSha256(16))).length));
        assertTrue(Arrays.equals(pcr, pcrDigest(next.execute(0, pcrReadSha256(16)))), "PCR 16 as the guest left it");
    }

    @Test
    void aSwtpmRunningAsTheDaemonIsNotTakenForAJailedOne() throws Exception {
        try (EngineFixture unjailed = new EngineFixture(tmp.resolve("run"), SwtpmConfig.defaults(tmp.resolve("run")))) {
            SwtpmEngine root = unjailed.booted("root", TpmFamily.TPM2, "c");
            root.ctrl().close();
            root.data().close();

            assertEquals(Optional.empty(), launcher.takeOverSurvivor(unjailed.stateDir("c")));
            assertTrue(root.isAlive() || ProcessHandle.of(root.pid()).map(ProcessHandle::isAlive).orElse(false),
                    "a root swtpm is not one the jailed launcher started: left alone");
        }
    }

    @Test
    void uidsAreGivenBackWhenSwtpmExits() throws Exception {
        SwtpmLauncher own = new SwtpmLauncher(launcherConfig());
        TpmEngine e = own.create("u", TpmFamily.TPM2, fixture.stateDir("u"));
        assertEquals(1, own.uidsInUse());
        e.close();
        for (int i = 0; i < 200 && own.uidsInUse() != 0; i++) {
            Thread.sleep(10);
        }
        assertEquals(0, own.uidsInUse());
    }

    @Test
    void aMissingToolIsAClearErrorNotAnUnconfinedSwtpm() {
        assertFalse(SwtpmJail.TOOLS.isEmpty());
        EngineException e = org.junit.jupiter.api.Assertions.assertThrows(EngineException.class,
                () -> SwtpmJail.toolsIn(List.of(tmp.toString())));
        assertTrue(e.getMessage().contains("swtpm-jail = no"), e.getMessage());
    }

    private SwtpmConfig launcherConfig() {
        return SwtpmConfig.defaults(tmp.resolve("run")).withJail(SwtpmJail.defaults(List.of(stateDir, tmp.resolve("run"))));
    }

    private static String[] concat(List<String> head, String... tail) {
        List<String> all = new ArrayList<>(head);
        all.addAll(List.of(tail));
        return all.toArray(String[]::new);
    }
}
