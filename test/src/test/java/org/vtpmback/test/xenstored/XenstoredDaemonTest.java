package org.vtpmback.test.xenstored;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;

/** The fixture itself, on both real daemons. */
class XenstoredDaemonTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

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
            XenstoredExtension.deleteTree(dir);
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
            XenstoredExtension.deleteTree(dir);
        }
    }

    /** Guest-ring and domain-lifecycle checks, run once per daemon flavour. */
    abstract static class GuestChecks {
        @Test
        void fixtureRunsTheRequestedFlavour(XenstoredDaemon xsd) {
            assertEquals(expectedFlavour(), xsd.flavour());
            assertTrue(xsd.isAlive());
        }

        abstract Flavour expectedFlavour();

        @Test
        void guestWritesInItsOwnHome(XenstoredDaemon xsd) throws Exception {
            try (GuestRingConnection dom9 = xsd.introduceGuest(9);
                 PrivilegedSocketConnection dom0 = xsd.connect()) {
                assertTrue(dom0.isDomainIntroduced(9));
                assertEquals("/local/domain/9", dom0.getDomainPath(9));
                dom9.write("/local/domain/9/x", "hello");
                assertEquals("hello", dom0.read("/local/domain/9/x"));
                dom9.write("y", "relative");                        // relative to /local/domain/9
                assertEquals("relative", dom0.read("/local/domain/9/y"));
                assertEquals("hello", dom9.read("x"));
                dom9.mkdir("/local/domain/9/device");
                assertEquals(List.of("device", "x", "y"), dom9.directory("/local/domain/9").stream().sorted().toList());
                assertEquals(List.of("n9"), dom0.getPerms("/local/domain/9/x")); // guest-created node owned by the guest
            }
        }

        @Test
        void guestIsDeniedDom0Nodes(XenstoredDaemon xsd) throws Exception {
            try (PrivilegedSocketConnection dom0 = xsd.connect()) {
                dom0.write("/secret", "s3");
                dom0.setPerms("/secret", "n0");
                dom0.write("/shared", "r");
                dom0.setPerms("/shared", "n0", "r11");
                try (GuestRingConnection dom11 = xsd.introduceGuest(11)) {
                    assertEquals("EACCES", assertThrows(XsErrorException.class, () -> dom11.write("/secret", "x")).errnoName());
                    assertEquals("EACCES", assertThrows(XsErrorException.class, () -> dom11.read("/secret")).errnoName());
                    assertEquals("r", dom11.read("/shared"));
                    assertEquals("EACCES", assertThrows(XsErrorException.class, () -> dom11.write("/shared", "w")).errnoName());
                    assertEquals("EACCES", assertThrows(XsErrorException.class, () -> dom11.write("/local/domain/12/x", "w")).errnoName());
                    dom11.write("/local/domain/11/still-ok", "1"); // the ring is still usable after errors
                }
                assertEquals("s3", dom0.read("/secret"));
                assertEquals("r", dom0.read("/shared"));
            }
        }

        @Test
        void guestWatchFiresOnTheRing(XenstoredDaemon xsd) throws Exception {
            try (GuestRingConnection dom13 = xsd.introduceGuest(13);
                 PrivilegedSocketConnection dom0 = xsd.connect()) {
                dom13.watch("/local/domain/13/backend-said", "tok");
                assertTrue(dom13.awaitWatchEvent("/local/domain/13/backend-said", "tok", WAIT), "initial watch event");
                dom0.write("/local/domain/13/backend-said", "hi");
                dom0.setPerms("/local/domain/13/backend-said", "n0", "r13");
                assertTrue(dom13.awaitWatchEvent("/local/domain/13/backend-said", "tok", WAIT), "watch event after dom0 write");
            }
        }

        @Test
        void killDomainReleasesIt(XenstoredDaemon xsd) throws Exception {
            try (PrivilegedSocketConnection dom0 = xsd.connect()) {
                dom0.introduce(7, 0x7007, 77);
                assertTrue(dom0.isDomainIntroduced(7));
                dom0.watch("@releaseDomain", "rel");
                assertTrue(dom0.awaitWatchEvent("@releaseDomain", "rel", WAIT), "initial @releaseDomain event");
                xsd.killDomain(7);
                assertTrue(dom0.awaitWatchEvent("@releaseDomain", "rel", WAIT), "@releaseDomain after killDomain");
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (dom0.isDomainIntroduced(7) && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertFalse(dom0.isDomainIntroduced(7), "dom7 still introduced after killDomain");
                xsd.setDomainState(7, null);
                dom0.introduce(7, 0x7007, 77); // the domid can be reused once revived
                assertTrue(dom0.isDomainIntroduced(7));
                dom0.release(7);
                assertFalse(dom0.isDomainIntroduced(7));
            }
        }
    }

    @Nested
    @UseXenstored(Flavour.C)
    class CXenstored extends GuestChecks {
        @Override
        Flavour expectedFlavour() {
            return Flavour.C;
        }
    }

    @Nested
    @UseXenstored(Flavour.OCAML)
    class OXenstored extends GuestChecks {
        @Override
        Flavour expectedFlavour() {
            return Flavour.OCAML;
        }
    }
}
