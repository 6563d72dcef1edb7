package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * tpm2-tools → swtpm-socket shim → frontend emulator → shared page → vtpmback daemon → swtpm, on a
 * real xenstored: the whole data path with a real client.
 */
@UseSimulatedHost
@Timeout(180)
class TpmToolsThroughDaemonTest {
    @Test
    void firstCommandSubmittedBeforeTheBackendConnectedIsAnswered(SimulatedVtpmHost host) throws Exception {
        Guest guest = host.boot(UUID.randomUUID().toString());
        byte[] first = guest.frontend().firstResponse().get(30, TimeUnit.SECONDS);
        assertTrue(TpmPackets.isWellFormedResponse(first), HexFormat.of().formatHex(first));
    }

    @Test
    void tpm2ToolsRunThroughTheWholePath(SimulatedVtpmHost host) throws Exception {
        Path work = host.work();
        Guest guest = host.boot(UUID.randomUUID().toString());
        String random = guest.tpm2("tpm2_getrandom", "16", "--hex").trim();
        assertTrue(random.matches("[0-9a-f]{32}"), random);

        String digest = "ab".repeat(32);
        guest.tpm2("tpm2_pcrextend", "16:sha256=" + digest);
        String pcr = guest.tpm2("tpm2_pcrread", "sha256:16");
        // PCR16 starts at zero; extend = SHA-256(old || digest)
        String expected = sha256Hex(new byte[32], HexFormat.of().parseHex(digest));
        assertTrue(pcr.toLowerCase().contains(expected), pcr);

        String primary = guest.tpm2("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256",
                "-c", work.resolve("primary.ctx").toString());
        assertTrue(primary.contains("name-alg"), primary);

        guest.tpm2("tpm2_nvdefine", "0x1500016", "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite");
        Path data = work.resolve("nv.bin");
        java.nio.file.Files.write(data, "vtpmback keeps this across boots".getBytes());
        guest.tpm2("tpm2_nvwrite", "0x1500016", "-C", "o", "-i", data.toString());
        Path back = work.resolve("nv-back.bin");
        guest.tpm2("tpm2_nvread", "0x1500016", "-C", "o", "-s", "32", "-o", back.toString());
        assertEquals("vtpmback keeps this across boots", java.nio.file.Files.readString(back));
    }

    @Test
    void tpm12GuestAnswersBasicCommands(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        host.family(uuid, TpmFamily.TPM12);
        Guest guest = host.boot(uuid);
        // TPM_GetRandom(16): tag TPM_TAG_RQU_COMMAND, size 14, ordinal 0x46
        byte[] response = guest.transmit(HexFormat.of().parseHex("00c10000000e0000004600000010"));
        assertEquals(0x00c4, TpmPackets.tag(response));
        assertEquals(0, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
        assertEquals(10 + 4 + 16, response.length);
        // TPM_PcrRead(10): 20-byte digest
        byte[] pcr = guest.transmit(HexFormat.of().parseHex("00c10000000e000000150000000a"));
        assertEquals(0, TpmPackets.responseCode(pcr));
        assertEquals(30, pcr.length);
    }

    static String sha256Hex(byte[] a, byte[] b) throws Exception {
        java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
        md.update(a);
        md.update(b);
        return HexFormat.of().formatHex(md.digest());
    }
}
