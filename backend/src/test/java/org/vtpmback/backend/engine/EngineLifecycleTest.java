package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.getRandom;
import static org.vtpmback.backend.engine.TpmCommands.nvDefineSpace;
import static org.vtpmback.backend.engine.TpmCommands.nvRead;
import static org.vtpmback.backend.engine.TpmCommands.nvReadData;
import static org.vtpmback.backend.engine.TpmCommands.nvWrite;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Reboot, save/restore, crash and stale-state behaviour of a TPM 2.0 engine (swtpm.md flows a, b). */
@Timeout(60)
class EngineLifecycleTest {
    private static final int NV_INDEX = 0x01500016;
    private static final byte[] NV_DATA = "persist-me-across-reboot-123456!".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ZERO = new byte[32];

    @TempDir
    Path tmp;

    private static byte[] pcr16(TpmEngine e) {
        byte[] r = e.execute(0, pcrReadSha256(16));
        assertEquals(0, rc(r));
        return pcrDigest(r);
    }

    @Test
    void rebootInPlaceClearsPcrs() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("vm", TpmFamily.TPM2, "vm");
            e.execute(0, pcrExtendSha256(16, digest(1)));
            assertFalse(java.util.Arrays.equals(ZERO, pcr16(e)));
            assertEquals(0, e.shutdownOrderly());
            e.initClear();
            assertEquals(TpmCommands.TPM_RC_INITIALIZE, rc(e.execute(0, getRandom(8))));
            assertEquals(0, e.sendStartupClear());
            assertArrayEquals(ZERO, pcr16(e));
        }
    }

    @Test
    void rebootIntoNewProcessClearsPcrsAndKeepsNvIndex() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine first = f.booted("vm", TpmFamily.TPM2, "vm");
            assertEquals(0, rc(first.execute(0, nvDefineSpace(NV_INDEX, NV_DATA.length))));
            assertEquals(0, rc(first.execute(0, nvWrite(NV_INDEX, NV_DATA))));
            assertEquals(0, rc(first.execute(0, pcrExtendSha256(16, digest(2)))));
            assertEquals(0, first.shutdownOrderly());
            first.close();

            SwtpmEngine second = f.booted("vm", TpmFamily.TPM2, "vm");
            assertArrayEquals(ZERO, pcr16(second));
            byte[] r = second.execute(0, nvRead(NV_INDEX, NV_DATA.length));
            assertEquals(0, rc(r));
            assertArrayEquals(NV_DATA, nvReadData(r));
        }
    }

    @Test
    void restoreWithVolatileStateResumesExactlyInAnEmptyDir() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine source = f.booted("src", TpmFamily.TPM2, "src");
            assertEquals(0, rc(source.execute(0, nvDefineSpace(NV_INDEX, NV_DATA.length))));
            assertEquals(0, rc(source.execute(0, nvWrite(NV_INDEX, NV_DATA))));
            source.execute(0, pcrExtendSha256(16, digest(3)));
            source.execute(0, pcrExtendSha256(16, digest(4)));
            byte[] expected = pcr16(source);
            StateBlobs blobs = source.saveState(true);
            assertTrue(blobs.volatileState().isPresent());
            source.close();

            SwtpmEngine dest = f.start("dst", TpmFamily.TPM2, "dst");
            assertTrue(isEmpty(f.stateDir("dst")));
            dest.restoreState(blobs);
            // no Startup: the TPM continues where it was saved, so a Startup is refused
            assertArrayEquals(expected, pcr16(dest));
            assertArrayEquals(NV_DATA, nvReadData(dest.execute(0, nvRead(NV_INDEX, NV_DATA.length))));
            assertEquals(TpmCommands.TPM_RC_INITIALIZE, dest.sendStartupClear());
            assertFalse(Files.exists(f.stateDir("dst").resolve("tpm2-00.volatilestate")));
        }
    }

    @Test
    void restoreWithoutVolatileStateBoots() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine source = f.booted("src", TpmFamily.TPM2, "src");
            assertEquals(0, rc(source.execute(0, nvDefineSpace(NV_INDEX, NV_DATA.length))));
            assertEquals(0, rc(source.execute(0, nvWrite(NV_INDEX, NV_DATA))));
            source.execute(0, pcrExtendSha256(16, digest(5)));
            StateBlobs blobs = source.saveState(false);
            source.close();

            SwtpmEngine dest = f.start("dst", TpmFamily.TPM2, "dst");
            dest.restoreState(new StateBlobs(blobs.permanent(), Optional.empty()));
            assertEquals(0, dest.sendStartupClear());
            assertArrayEquals(ZERO, pcr16(dest));
            assertArrayEquals(NV_DATA, nvReadData(dest.execute(0, nvRead(NV_INDEX, NV_DATA.length))));
        }
    }

    @Test
    void corruptVolatileBlobIsRefusedWithBadParameter() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine source = f.booted("src", TpmFamily.TPM2, "src");
            StateBlobs blobs = source.saveState(false);
            SwtpmEngine dest = f.start("dst", TpmFamily.TPM2, "dst");
            EngineException ex = assertThrows(EngineException.class,
                    () -> dest.restoreState(new StateBlobs(blobs.permanent(), Optional.of(new byte[64]))));
            assertEquals(0x03, ex.resultCode());
            assertTrue(ex.getMessage().contains("[dst]") && ex.getMessage().contains("0x3"), ex.getMessage());
            assertTrue(dest.isAlive(), "a refused blob does not kill the engine");
        }
    }

    @Test
    void killedSwtpmAnswersFailureQuicklyAndANewEngineRecovers() {
        try (EngineFixture f = new EngineFixture(tmp)) {
            SwtpmEngine e = f.booted("vm", TpmFamily.TPM2, "vm");
            e.execute(0, pcrExtendSha256(16, digest(6)));
            ProcessHandle.of(e.pid()).orElseThrow().destroyForcibly(); // SIGKILL

            long t0 = System.nanoTime();
            byte[] r = e.execute(0, getRandom(8));
            long ms = Duration.ofNanos(System.nanoTime() - t0).toMillis();
            assertArrayEquals(TpmFamily.TPM2.failureResponse(), r);
            assertTrue(ms < 5000, "failure answer took " + ms + " ms");
            assertFalse(e.isAlive());
            assertArrayEquals(TpmFamily.TPM2.failureResponse(), e.execute(2, getRandom(8)), "stays dead");
            assertThrows(EngineException.class, e::initClear);
            e.close();

            SwtpmEngine again = f.booted("vm", TpmFamily.TPM2, "vm");
            assertEquals(0, rc(again.execute(0, getRandom(8))));
            assertArrayEquals(ZERO, pcr16(again));
        }
    }

    @Test
    void hungSwtpmTimesOutInsteadOfHanging() throws Exception {
        try (EngineFixture f = EngineFixture.withResponseTimeout(tmp, Duration.ofMillis(500))) {
            SwtpmEngine e = f.booted("vm", TpmFamily.TPM2, "vm");
            EngineFixture.signal(e.pid(), "STOP");
            long t0 = System.nanoTime();
            assertArrayEquals(TpmFamily.TPM2.failureResponse(), e.execute(0, getRandom(8)));
            long ms = Duration.ofNanos(System.nanoTime() - t0).toMillis();
            assertTrue(ms >= 400 && ms < 5000, "timed out after " + ms + " ms");
            assertFalse(e.isAlive());
            long pid = e.pid();
            e.close(); // must kill the stopped process rather than wait on CMD_SHUTDOWN
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        }
    }

    @Test
    void staleVolatileFileDoesNotSurviveInitClear() throws Exception {
        try (EngineFixture f = new EngineFixture(tmp)) {
            Path stale = f.stateDir("vm").resolve("tpm2-00.volatilestate");
            SwtpmEngine first = f.booted("vm", TpmFamily.TPM2, "vm");
            first.execute(0, pcrExtendSha256(16, digest(8)));
            first.ctrl().storeVolatile();
            assertTrue(Files.exists(stale));
            first.close(); // CMD_SHUTDOWN does not remove or rewrite the file

            assertTrue(Files.exists(stale));
            SwtpmEngine second = f.start("vm", TpmFamily.TPM2, "vm");
            second.initClear();
            assertEquals(0, second.sendStartupClear(), "INIT(0) must not resume the snapshot (trap 3)");
            assertArrayEquals(ZERO, pcr16(second));
            assertFalse(Files.exists(stale));
        }
    }

    /** No TPM state in {@code dir}: nothing but swtpm's pid file and its two sockets. */
    private static boolean isEmpty(Path dir) throws java.io.IOException {
        if (!Files.exists(dir)) {
            return true;
        }
        try (var s = Files.list(dir)) {
            return s.allMatch(p -> p.getFileName().toString().equals(SwtpmSurvivor.PID_FILE)
                    || p.equals(SwtpmCommand.dataSocket(dir)) || p.equals(SwtpmCommand.ctrlSocket(dir)));
        }
    }
}
