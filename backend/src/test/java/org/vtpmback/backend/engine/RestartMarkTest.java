package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.xen.DomainId;

/**
 * Issue 9 (review HIGH): a TPM started clear under a running guest has every PCR 0-23 extended with the
 * restart mark, in both families, so no PCR holds a value a boot produces. Real swtpm; the expected
 * values are computed here from the boot values a plain clear start of the same state reads.
 */
@Timeout(120)
class RestartMarkTest {
    private static final String VTPM = "5a1e0c2d-0000-4000-8000-00000000000a";
    private static final DomainId GUEST = new DomainId(7);

    @TempDir
    Path tmp;

    @Test
    void tpm2EveryPcrIsTheMarkChainFromItsBootValue() throws Exception {
        check(TpmFamily.TPM2, "SHA-256");
    }

    @Test
    void tpm12EveryPcrIsTheMarkChainFromItsBootValue() throws Exception {
        check(TpmFamily.TPM12, "SHA-1");
    }

    private void check(TpmFamily family, String hash) throws Exception {
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run")));
        EngineBoot boot = new EngineBoot(launcher, tmp.resolve("run/instances"));
        byte[] permanent;
        byte[][] booted = new byte[RestartMark.PCRS][];
        try (TpmEngine blank = boot.startBlank(VTPM, family)) {
            permanent = blank.saveState(false).permanent();
        }
        try (TpmEngine plain = boot.start(VTPM, GUEST, family, new StateBlobs(permanent, java.util.Optional.empty()))) {
            for (int pcr = 0; pcr < RestartMark.PCRS; pcr++) {
                booted[pcr] = read(plain, pcr);
            }
        }
        byte[] event = RestartMark.EVENT.getBytes(StandardCharsets.US_ASCII);
        byte[] eventDigest = family == TpmFamily.TPM2 ? MessageDigest.getInstance(hash).digest(event)
                : MessageDigest.getInstance("SHA-1").digest(event);
        try (TpmEngine marked = boot.startUnderRunningGuest(VTPM, GUEST, family, permanent)) {
            for (int pcr = 0; pcr < RestartMark.PCRS; pcr++) {
                MessageDigest md = MessageDigest.getInstance(hash);
                md.update(booted[pcr]);
                md.update(eventDigest);
                byte[] expected = md.digest();
                byte[] actual = read(marked, pcr);
                assertArrayEquals(expected, actual, family + " PCR " + pcr + ": " + HexFormat.of().formatHex(actual));
                assertFalse(Arrays.equals(booted[pcr], actual), "PCR " + pcr + " still holds its boot value");
            }
            assertTrue(marked.isAlive());
        }
    }

    private static byte[] read(TpmEngine e, int pcr) {
        if (e.family() == TpmFamily.TPM2) {
            byte[] r = e.execute(0, TpmCommands.pcrReadSha256(pcr));
            assertEquals(0, TpmCommands.rc(r));
            return TpmCommands.pcrDigest(r);
        }
        byte[] r = e.execute(0, TpmCommands.tpm12PcrRead(pcr));
        assertEquals(0, TpmCommands.rc(r));
        return Arrays.copyOfRange(r, 10, 30);
    }
}
