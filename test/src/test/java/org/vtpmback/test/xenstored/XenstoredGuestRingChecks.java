package org.vtpmback.test.xenstored;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;
import org.junit.jupiter.api.Test;

/**
 * Guest-ring and domain-lifecycle checks of the fixture, run once per daemon flavour by the
 * subclasses annotated with {@link UseXenstored} (one daemon per class, shared by its tests, so
 * each test uses its own domids). Also the pattern for contract suites on both daemons.
 */
abstract class XenstoredGuestRingChecks {
    static final Duration WAIT = Duration.ofSeconds(10);

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
