package org.vtpmback.test.xenstored;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;

/**
 * The fixture itself on both real daemons: lifecycle, CLI interop, options. Guest-ring and domain
 * checks: {@link XenstoredGuestRingChecks} via XenstoredGuestRing{C,Ocaml}Test.
 */
class XenstoredDaemonTest {
    private static String run(Map<String, String> env, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "timeout: " + String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    @ParameterizedTest
    @EnumSource(Flavour.class)
    void startWriteReadStopLeavesNothing(Flavour flavour, @TempDir Path tmp) throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "xsd-lc-");
        try {
            XenstoredDaemon xsd = XenstoredDaemon.start(flavour, dir, Map.of());
            long pid = xsd.pid();
            Path socket = xsd.socket();
            try {
                assertTrue(Files.exists(socket), "socket " + socket);
                try (PrivilegedSocketConnection dom0 = xsd.connect()) {
                    dom0.write("/fixture/a", "v1");
                    assertEquals("v1", dom0.read("/fixture/a"));
                    XsErrorException e = assertThrows(XsErrorException.class, () -> dom0.read("/fixture/missing"));
                    assertEquals("ENOENT", e.errnoName());
                }
                // The real xenstore-utils binaries (through libxenstore) see the same daemon.
                Path bin = xsd.xenRoot().resolve("usr/bin");
                run(xsd.clientEnvironment(), bin.resolve("xenstore-write").toString(), "/fixture/b", "from-cli");
                assertEquals("v1\n", run(xsd.clientEnvironment(), bin.resolve("xenstore-read").toString(), "/fixture/a"));
                try (PrivilegedSocketConnection dom0 = xsd.connect()) {
                    assertEquals("from-cli", dom0.read("/fixture/b"));
                }
            } finally {
                xsd.close();
            }
            assertFalse(xsd.isAlive());
            assertTrue(ProcessHandle.of(pid).isEmpty(), "xenstored pid " + pid + " still exists (not reaped?)");
            assertFalse(Files.exists(socket), "socket left behind: " + socket);
            xsd.close(); // idempotent
        } finally {
            TestDirs.deleteTree(dir);
        }
    }

    @ParameterizedTest
    @EnumSource(Flavour.class)
    void missingXenRootFailsWithFetchHint(Flavour flavour, @TempDir Path tmp) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> XenstoredDaemon.start(flavour, tmp.resolve("d"), Map.of(), tmp.resolve("no-xen-root")));
        assertTrue(e.getMessage().contains("scripts/fetch-xen-debs.sh"), e.getMessage());
    }

    /** Option pass-through: oxenstored's test-eagain makes some commits fail with EAGAIN. */
    @Test
    void ocamlTestEagainOption() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "xsd-eagain-");
        try (XenstoredDaemon xsd = XenstoredDaemon.start(Flavour.OCAML, dir, Map.of("test-eagain", "true"));
             PrivilegedSocketConnection dom0 = xsd.connect()) {
            int eagain = 0;
            for (int i = 0; i < 200 && eagain == 0; i++) {
                int tx = dom0.transactionStart();
                dom0.write(tx, "/eagain/k", Integer.toString(i));
                try {
                    dom0.transactionEnd(tx, true);
                } catch (XsErrorException e) {
                    assertEquals("EAGAIN", e.errnoName());
                    eagain++;
                }
            }
            assertTrue(eagain > 0, "no EAGAIN in 200 commits with test-eagain = true");
        } finally {
            TestDirs.deleteTree(dir);
        }
    }
}
