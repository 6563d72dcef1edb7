package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class DomainInfoTest {
    private static DomainInfo withFlags(int flags) {
        return new DomainInfo(3, flags, new UUID(0, 0), 0, 0, 1);
    }

    @Test
    void shutdownCodeOnlyWithShutdownBit() {
        // Reason bits without the shutdown bit mean nothing (stale or never set).
        DomainInfo notShutdown = withFlags(3 << 16 | DomainInfo.RUNNING);
        assertFalse(notShutdown.shutdown());
        assertTrue(notShutdown.running());
        assertEquals(OptionalInt.empty(), notShutdown.shutdownCode());
        assertEquals(ShutdownReason.UNKNOWN, notShutdown.shutdownReason());

        DomainInfo crashed = withFlags(3 << 16 | DomainInfo.SHUTDOWN | DomainInfo.DYING);
        assertTrue(crashed.dying());
        assertEquals(OptionalInt.of(3), crashed.shutdownCode());
        assertEquals(ShutdownReason.CRASH, crashed.shutdownReason());
    }

    @Test
    void highBitsOfFlagsDoNotLeakIntoTheCode() {
        DomainInfo d = withFlags(0xFF05_0000 | DomainInfo.SHUTDOWN);
        assertEquals(OptionalInt.of(5), d.shutdownCode());
        assertEquals(ShutdownReason.SOFT_RESET, d.shutdownReason());
    }

    @Test
    void reasonCodes() {
        int[] codes = {0, 1, 2, 3, 4, 5};
        ShutdownReason[] expected = {ShutdownReason.POWEROFF, ShutdownReason.REBOOT, ShutdownReason.SUSPEND,
            ShutdownReason.CRASH, ShutdownReason.WATCHDOG, ShutdownReason.SOFT_RESET};
        for (int i = 0; i < codes.length; i++) {
            assertEquals(expected[i], ShutdownReason.of(codes[i]));
            assertEquals(codes[i], expected[i].code());
        }
        assertEquals(ShutdownReason.UNKNOWN, ShutdownReason.of(6));
        assertEquals(ShutdownReason.UNKNOWN, ShutdownReason.of(-1));
        assertEquals(ShutdownReason.UNKNOWN, ShutdownReason.of(255));
    }

    @Test
    void uuidFromHandleBytesIsBigEndian() {
        byte[] b = new byte[16];
        for (int i = 0; i < 16; i++) {
            b[i] = (byte) (0x10 + i);
        }
        assertEquals(UUID.fromString("10111213-1415-1617-1819-1a1b1c1d1e1f"), DomainInfo.uuidOf(b));
    }
}
