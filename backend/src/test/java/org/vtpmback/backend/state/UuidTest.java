package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class UuidTest {
    @Test
    void parseCanonicalisesCase() {
        Uuid u = Uuid.parse("4E6F0C1A-2b3c-4d5e-8f90-A1B2C3D4E5F6");
        assertEquals("4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", u.value());
        assertEquals(u, new Uuid("4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"));
        assertEquals("4e6f0c1a", u.shortForm());
    }

    @Test
    void anythingElseIsRefusedNamingTheText() {
        for (String bad : new String[] {"", "guest1", "4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f", "4e6f0c1a2b3c4d5e8f90a1b2c3d4e5f6",
                "../../../../etc/passwd", "4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6/", " 4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Uuid.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "' is not a uuid"), e.getMessage());
        }
        // the record itself takes only the canonical form, so no upper-case twin of a uuid can exist
        assertThrows(IllegalArgumentException.class, () -> new Uuid("4E6F0C1A-2B3C-4D5E-8F90-A1B2C3D4E5F6"));
        assertFalse(Uuid.isCanonical("4E6F0C1A-2B3C-4D5E-8F90-A1B2C3D4E5F6"));
    }
}
