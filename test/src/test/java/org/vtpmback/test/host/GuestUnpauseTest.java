package org.vtpmback.test.host;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Guest#unpause()} when the daemon refuses the device: the wait ends at once with the daemon's reason
 * ({@link Guest.DeviceFailed}) instead of following the daemon's CPU up to {@link ProgressWait#CAP}. The state
 * fault suite's "operation hung" at a restore whose snapshot a power cut had consumed (seed 3040591072, point 8)
 * was this wait: the restarted daemon refused the resume within a second, the harness waited on.
 */
@UseSimulatedHost
@Timeout(120)
class GuestUnpauseTest {
    @Test
    void aRefusedResumeEndsTheWaitAtOnceWithTheDaemonsReason(SimulatedVtpmHost host) {
        String uuid = UUID.randomUUID().toString(); // nothing stored: a resume of it is refused
        Guest.DeviceFailed failed = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(Guest.DeviceFailed.class, () -> host.boot(uuid, true)),
                "the refusal must end the wait, not ProgressWait's idle or cap");
        assertTrue(failed.reason().contains(uuid) && failed.reason().contains("no state for the vTPM"), failed.getMessage());
        assertTrue(failed.getMessage().startsWith("domain "), failed.getMessage());
    }

    @Test
    void aBootThatConnectsIsNotTakenForAFailure(SimulatedVtpmHost host) throws Exception {
        Guest g = host.boot(UUID.randomUUID().toString());
        assertTrue(g.frontend().isConnected());
        assertFalse(host.deviceFailure(g.domid(), 0).isPresent());
    }
}
