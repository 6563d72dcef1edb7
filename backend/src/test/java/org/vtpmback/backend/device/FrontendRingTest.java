package org.vtpmback.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vtpmback.backend.ring.GuestProtocolException;

class FrontendRingTest {
    @Test
    void parsesWhatLinuxWrites() {
        // Values seen from a real Linux 6.1 xen-tpmfront (shared/xen-e2e example log): ring-ref 8, event-channel 8.
        FrontendRing ring = FrontendRing.parse(Optional.of("8"), Optional.of("8"), Optional.of("1"));
        assertEquals(new FrontendRing(8, 8), ring);
        // The largest ref the grant-table bindings take (GrantTable.checkRef refuses 2^31 and above).
        FrontendRing big = FrontendRing.parse(Optional.of("2147483647"), Optional.of("131071"), Optional.of("1"));
        assertEquals(2147483647L, big.grantRefUnsigned());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-1", "+8", "08", " 8", "8 ", "0x8", "4294967296", "4294967295", "2147483648", "2147483653", "99999999999", "8\n", "\u0668", "1e3"})
    void refusesGarbageRingRef(String bad) {
        GuestProtocolException e = assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.of(bad), Optional.of("8"), Optional.of("1")));
        assertTrue(e.getMessage().startsWith("ring-ref"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "131072", "-3", "abc", "12345678901"})
    void refusesGarbageEventChannel(String bad) {
        GuestProtocolException e = assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.of("8"), Optional.of(bad), Optional.of("1")));
        assertTrue(e.getMessage().startsWith("event-channel"), e.getMessage());
    }

    @Test
    void requiresProtocolV2AndBothKeys() {
        assertTrue(assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.of("8"), Optional.of("8"), Optional.empty()))
                .getMessage().contains("feature-protocol-v2"));
        assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.of("8"), Optional.of("8"), Optional.of("0")));
        assertTrue(assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.empty(), Optional.of("8"), Optional.of("1")))
                .getMessage().contains("did not write ring-ref"));
        assertTrue(assertThrows(GuestProtocolException.class,
                () -> FrontendRing.parse(Optional.of("8"), Optional.empty(), Optional.of("1")))
                .getMessage().contains("did not write event-channel"));
    }

    @Test
    void deviceIdsComeOnlyFromCanonicalNumbers() {
        assertEquals(Optional.of(new DeviceId(7, 0)), DeviceId.parse("7", "0"));
        assertEquals(Optional.empty(), DeviceId.parse("0", "0"), "dom0 is never a vtpm frontend here");
        assertEquals(Optional.empty(), DeviceId.parse("32752", "0"), "reserved domids");
        assertEquals(Optional.empty(), DeviceId.parse("07", "0"));
        assertEquals(Optional.empty(), DeviceId.parse("7", "x"));
    }
}
