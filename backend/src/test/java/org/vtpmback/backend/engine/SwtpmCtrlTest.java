package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
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

    /**
     * A hostile or broken swtpm names a 2 GiB blob: refused before anything is allocated or read
     * (before the bound, the client allocated whatever length the answer named).
     */
    @Test
    void anOversizedBlobLengthIsRefused() throws Exception {
        Path path = tmp.resolve("fake.ctrl");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            Thread fake = new Thread(() -> {
                try (SocketChannel c = server.accept()) {
                    ByteBuffer request = ByteBuffer.allocate(16);
                    while (request.hasRemaining() && c.read(request) >= 0) {
                        // GET_STATEBLOB: u32 cmd, u32 flags, u32 type, u32 offset
                    }
                    c.write(ByteBuffer.allocate(16).putInt(0).putInt(0).putInt(0x7fff_fff0).putInt(0x7fff_fff0).flip());
                    c.read(ByteBuffer.allocate(1)); // hold the connection until the client gives up
                } catch (IOException e) {
                    // the client closed
                }
            });
            fake.start();
            try (SwtpmCtrl ctrl = SwtpmCtrl.connect("fake", path, Duration.ofSeconds(10))) {
                IOException e = assertThrows(IOException.class, () -> ctrl.getStateBlob(SwtpmCtrl.BLOB_PERMANENT));
                assertTrue(e.getMessage().contains("refused a blob of 2147483632"), e.getMessage());
            }
            fake.join();
        }
    }
}
