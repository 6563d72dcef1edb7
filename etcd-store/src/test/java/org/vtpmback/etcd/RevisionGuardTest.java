package org.vtpmback.etcd;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.vtpmback.backend.state.Uuid;

class RevisionGuardTest {
    private static final Uuid A = new Uuid("00000000-0000-4000-8000-00000000000a");

    @Test
    void marksOnlyGrowAndOlderRecordsAreRefused() {
        RevisionGuard g = new RevisionGuard();
        assertDoesNotThrow(() -> g.check(A, 0), "nothing committed: any record, or none, is fine");
        g.raise(A, 40);
        g.raise(A, 30);
        assertEquals(40, g.mark(A));
        assertDoesNotThrow(() -> g.check(A, 40));
        assertDoesNotThrow(() -> g.check(A, 55), "another host committed later: fine");
        RolledBackRecordException e = assertThrows(RolledBackRecordException.class, () -> g.check(A, 39));
        assertEquals(39, e.foundRevision());
        assertEquals(40, e.committedRevision());
        assertTrue(e.getMessage().contains(A.value()), e.getMessage());
        assertThrows(RolledBackRecordException.class, () -> g.check(A, 0), "a vanished record is a rollback too");
    }

    @Test
    void savedMarksComeBackAndForgetIsDeliberate() {
        RevisionGuard g = new RevisionGuard(Map.of(A, 12L));
        assertEquals(Map.of(A, 12L), g.marks());
        g.forget(A);
        assertDoesNotThrow(() -> g.check(A, 0));
    }

    @Test
    void hostNamesAreSafeForKeysAndLogs() {
        assertEquals("host-1.pool", new HostId("host-1.pool").value());
        assertThrows(IllegalArgumentException.class, () -> new HostId("a/b"));
        assertThrows(IllegalArgumentException.class, () -> new HostId(""));
        assertThrows(IllegalArgumentException.class, () -> new HostId("x".repeat(65)));
    }
}
