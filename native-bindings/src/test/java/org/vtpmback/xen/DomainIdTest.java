package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class DomainIdTest {
    @Test
    void realDomainsAreZeroToBelowTheFirstReservedId() {
        assertEquals(0, new DomainId(0).value());
        assertEquals(0x7FEF, new DomainId(DomainId.MAX).value());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DomainId(0x7FF0)).getMessage().contains("0 to 32751"));
        assertThrows(IllegalArgumentException.class, () -> new DomainId(-1));
    }

    @Test
    void guestsExcludeDom0() {
        assertEquals(Optional.empty(), DomainId.guest(0));
        assertEquals(Optional.of(new DomainId(7)), DomainId.guest(7));
        assertEquals(Optional.empty(), DomainId.guest(0x7FF2)); // DOMID_SELF
    }
}
