package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * A new vTPM is manufactured while its guest boots (from InitWait), not when the frontend connects,
 * so a Linux guest's first TPM commands do not time out behind EK generation; and nothing of it is
 * stored until the connect decides it is a first start.
 */
@UseSimulatedHost
@Timeout(180)
class EarlyManufactureTest {
    @RegisterExtension
    final LogCapture logs = new LogCapture();

    @Test
    void aNewVtpmIsManufacturedBeforeItsFrontendConnectsAndStoredOnlyAtConnect(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.create(uuid, false); // xl create -p: backend in InitWait, the guest not yet running

        awaitLine("vtpm " + uuid + ": manufactured RSA 2048 EK", Duration.ofSeconds(60));
        assertFalse(Files.exists(GuestTpm.file(host, uuid)), "nothing is stored before the connect decides");
        assertFalse(g.frontend().isConnected());

        g.unpause();

        assertEquals(EndKind.RUNNING, GuestTpm.stored(host, uuid).lastEnd());
        assertEquals(1, logs.since(0, "manufactured RSA 2048 EK").size(), "manufactured once: " + logs.lines());
        assertEquals(1, logs.since(0, "start mode MANUFACTURE").size(), logs.lines().toString());
        assertTrue(g.tpm2("tpm2_readpublic", "-c", "0x81010001").contains("rsa"), "the EK made early is the guest's");
    }

    private void awaitLine(String text, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (logs.since(0, text).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no log line with '" + text + "' within " + timeout + ": " + logs.lines());
            }
            Thread.sleep(50);
        }
    }
}
