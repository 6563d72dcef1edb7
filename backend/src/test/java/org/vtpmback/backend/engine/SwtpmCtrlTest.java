package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The ctrl client against swtpm 0.7.1's measured answers (swtpm.md "Ctrl protocol"). */
@Timeout(30)
class SwtpmCtrlTest {
    private static final int TPM_BAD_ORDINAL = 0x0a;

    @TempDir
    Path tmp;

    @Test
    void capabilitiesAndConfig() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            assertEquals(0xffff, f.start("c2", TpmFamily.TPM2, "a").ctrl().getCapability());
            SwtpmCtrl ctrl12 = f.start("c12", TpmFamily.TPM12, "b").ctrl();
            assertEquals(0x7fff, ctrl12.getCapability());
            assertEquals(0, ctrl12.getConfig(), "no --key, no --migration-key");
        }
    }

    @Test
    void shortErrorAnswersKeepTheChannelInStep() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.start("c2", TpmFamily.TPM2, "a");
            SwtpmCtrl ctrl = e.ctrl();
            // TPM not running yet: GET_STATEBLOB answers only the 4-byte result
            EngineException ex = assertThrows(EngineException.class, () -> ctrl.getStateBlob(SwtpmCtrl.BLOB_PERMANENT));
            assertEquals(TPM_BAD_ORDINAL, ex.resultCode());
            assertTrue(ex.getMessage().contains("swtpm[c2]") && ex.getMessage().contains("CMD_GET_STATEBLOB"),
                    ex.getMessage());
            assertEquals(0xffff, ctrl.getCapability(), "next answer is not shifted");

            e.initClear();
            // SET_BUFFERSIZE > 0 while running: 4-byte 0x0a
            assertEquals(TPM_BAD_ORDINAL,
                    assertThrows(EngineException.class, () -> ctrl.setBufferSize(4088)).resultCode());
            // SET_STATEBLOB while running
            assertEquals(TPM_BAD_ORDINAL, assertThrows(EngineException.class,
                    () -> ctrl.setStateBlob(SwtpmCtrl.BLOB_PERMANENT, new byte[16])).resultCode());
            assertEquals(4088, ctrl.setBufferSize(0).size());
        }
    }

    @Test
    void tpm2SavestateBlobIsEmpty() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("c2", TpmFamily.TPM2, "a");
            // 0x800 RETRY with length 0: QEMU treats it as an empty blob
            assertEquals(0, e.ctrl().getStateBlob(SwtpmCtrl.BLOB_SAVESTATE).length);
            assertTrue(e.ctrl().getStateBlob(SwtpmCtrl.BLOB_VOLATILE).length > 1000);
        }
    }

    @Test
    void largeBlobRoundTripsThroughSetStateBlob() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("c2", TpmFamily.TPM2, "a");
            byte[] vol = e.ctrl().getStateBlob(SwtpmCtrl.BLOB_VOLATILE); // ~9 KB: more than swtpm's first read
            SwtpmCtrl ctrl = e.ctrl();
            ctrl.stop();
            ctrl.setStateBlob(SwtpmCtrl.BLOB_VOLATILE, vol);
            ctrl.init(SwtpmCtrl.INIT_FLAG_DELETE_VOLATILE);
            assertEquals(0, TpmCommands.rc(e.execute(0, TpmCommands.getRandom(8))));
        }
    }
}
