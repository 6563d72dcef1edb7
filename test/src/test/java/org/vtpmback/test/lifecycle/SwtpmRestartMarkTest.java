package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.engine.RestartMark;
import org.vtpmback.test.device.SwtpmProcesses;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Issue 9, review HIGH: a guest that kills (or crashes) its own swtpm must not get its PCRs back at
 * their boot values while it keeps running, or it could replay a known-good event log and quote it.
 * After the restart, PCR 16 (zero at boot) and PCR 17 (a DRTM PCR, all ones at boot) hold the restart
 * mark's chain from their boot values, and the guest's earlier extend is gone. Real swtpm, tpm2-tools.
 */
@UseSimulatedHost
@Timeout(300)
class SwtpmRestartMarkTest {
    private static final String ONES32 = "ff".repeat(32);

    @RegisterExtension
    final LogCapture logs = new LogCapture();

    @Test
    void aSwtpmKilledUnderItsGuestComesBackWithEveryPcrMarked(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        assertEquals(ONES32, pcr(g, 17), "a DRTM PCR starts all ones");
        extend(g, 16, ZERO32, sha256Hex("measured boot"));

        ProcessHandle swtpm = SwtpmProcesses.of(host, uuid);
        swtpm.destroyForcibly();
        swtpm.onExit().join();
        // The command that finds swtpm dead learns that the TPM failed; the next runs on the restarted one.
        assertEquals(0x101, rc(g.transmit(org.vtpmback.backend.engine.TpmCommands.getRandom(8))));

        String mark = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(RestartMark.EVENT.getBytes()));
        assertEquals(chain(ZERO32, mark), pcr(g, 16), "PCR 16 after the restart: the mark from zero, not the guest's extend");
        assertEquals(chain(ONES32, mark), pcr(g, 17), "PCR 17 after the restart");
        assertEquals(chain(ZERO32, mark), pcr(g, 0), "PCR 0 after the restart");
        assertTrue(logs.lines().stream().anyMatch(l -> l.contains("restarted clear under the running guest") && l.contains(uuid)),
                "the restart and its mark are logged");
    }

    private static String chain(String fromHex, String digestHex) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(HexFormat.of().parseHex(fromHex));
        md.update(HexFormat.of().parseHex(digestHex));
        return HexFormat.of().formatHex(md.digest());
    }

    private static int rc(byte[] response) {
        return java.nio.ByteBuffer.wrap(response).getInt(6);
    }
}
