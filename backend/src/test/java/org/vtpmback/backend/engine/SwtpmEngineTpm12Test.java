package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.vtpmback.backend.engine.TpmCommands.rc;
import static org.vtpmback.backend.engine.TpmCommands.tpm12Extend;
import static org.vtpmback.backend.engine.TpmCommands.tpm12GetRandom;
import static org.vtpmback.backend.engine.TpmCommands.tpm12PcrRead;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A TPM 1.2 engine against a real swtpm (no {@code --tpm2}). */
@Timeout(30)
class SwtpmEngineTpm12Test {
    private static final int TPM_INVALID_POSTINIT = 0x26;
    private static final byte[] ZERO20 = new byte[20];

    @TempDir
    Path tmp;

    private static byte[] pcr10(TpmEngine e) {
        byte[] r = e.execute(0, tpm12PcrRead(10));
        assertEquals(0, rc(r));
        return Arrays.copyOfRange(r, 10, 30);
    }

    @Test
    void startupClearThenGetRandomAnswers() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.start("t12", TpmFamily.TPM12, "a");
            e.initClear();
            assertEquals(TPM_INVALID_POSTINIT, rc(e.execute(0, tpm12GetRandom(8))));
            assertEquals(0, e.sendStartupClear());
            byte[] r = e.execute(0, tpm12GetRandom(8));
            assertEquals(0, rc(r));
            assertEquals(8, ByteBuffer.wrap(r).getInt(10));
            assertEquals(10 + 4 + 8, r.length);
        }
    }

    @Test
    void rebootClearsPcrAndSaveRestoreKeepsIt() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("t12", TpmFamily.TPM12, "a");
            assertEquals(0, rc(e.execute(0, tpm12Extend(10, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                    15, 16, 17, 18, 19, 20}))));
            byte[] extended = pcr10(e);
            assertFalse(Arrays.equals(ZERO20, extended));

            StateBlobs blobs = e.saveState(true);
            SwtpmEngine copy = f.start("t12b", TpmFamily.TPM12, "b");
            copy.restoreState(blobs);
            assertArrayEquals(extended, pcr10(copy));

            assertEquals(0, e.shutdownOrderly()); // TPM_SaveState
            e.initClear();
            assertEquals(0, e.sendStartupClear());
            assertArrayEquals(ZERO20, pcr10(e));
        }
    }

    @Test
    void deadEngineAnswersTpm12Failure() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("t12", TpmFamily.TPM12, "a");
            ProcessHandle.of(e.pid()).orElseThrow().destroyForcibly();
            byte[] r = e.execute(0, tpm12GetRandom(8));
            assertArrayEquals(new byte[] {0x00, (byte) 0xc4, 0, 0, 0, 10, 0, 0, 0, 0x09}, r);
        }
    }
}
