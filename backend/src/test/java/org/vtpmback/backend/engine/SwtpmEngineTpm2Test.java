package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.engine.TpmCommands.capabilityValue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.getCapabilityProperty;
import static org.vtpmback.backend.engine.TpmCommands.getRandom;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A TPM 2.0 engine against a real swtpm: boot, commands, localities, buffer size. */
@Timeout(30)
class SwtpmEngineTpm2Test {
    private static final int TPM_RC_LOCALITY = 0x907;

    @TempDir
    Path tmp;
    private EngineFixture fixture;

    @BeforeEach
    void setUp() {
        fixture = new EngineFixture(tmp);
    }

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    @Test
    void commandsBeforeStartupAnswerInitialize() {
        SwtpmEngine e = fixture.start("t2", TpmFamily.TPM2, "a");
        e.initClear();
        assertEquals(TpmCommands.TPM_RC_INITIALIZE, rc(e.execute(0, getRandom(8))));
        assertEquals(0, e.sendStartupClear());
        assertEquals(TpmCommands.TPM_RC_INITIALIZE, e.sendStartupClear(), "second Startup is refused");
    }

    @Test
    void getRandomAnswersEightBytes() {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        byte[] r = e.execute(0, getRandom(8));
        assertEquals(0, rc(r));
        assertEquals(10 + 2 + 8, r.length);
        assertEquals(8, ByteBuffer.wrap(r).getShort(10));
        assertEquals(TpmFamily.TPM2, e.family());
        assertTrue(e.isAlive());
    }

    @Test
    void pcrExtendShowsInPcrRead() {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        byte[] before = pcrDigest(e.execute(0, pcrReadSha256(16)));
        assertArrayEquals(new byte[32], before);
        assertEquals(0, rc(e.execute(0, pcrExtendSha256(16, digest(7)))));
        byte[] after = pcrDigest(e.execute(0, pcrReadSha256(16)));
        assertNotEquals(ByteBuffer.wrap(before), ByteBuffer.wrap(after));
    }

    @Test
    void bufferSizeIsCappedToTheSharedPage() throws Exception {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        assertEquals(4088, capabilityValue(e.execute(0, getCapabilityProperty(TpmCommands.TPM_PT_MAX_COMMAND_SIZE))));
        assertEquals(4088, capabilityValue(e.execute(0, getCapabilityProperty(TpmCommands.TPM_PT_MAX_RESPONSE_SIZE))));
        assertEquals(new SwtpmCtrl.BufferSize(4088, 2808, 4096), e.ctrl().setBufferSize(0));
    }

    @Test
    void malformedCommandSizesNeverReachSwtpm() {
        // The guest boundary (TpmRequest) answers these; reaching the engine they are a caller's bug.
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        assertThrows(IllegalArgumentException.class, () -> e.execute(0, new byte[TpmEngine.MAX_COMMAND_SIZE + 1]));
        assertThrows(IllegalArgumentException.class, () -> e.execute(0, new byte[3]));
        // the stream is still in step
        assertEquals(0, rc(e.execute(0, getRandom(8))));
    }

    @Test
    void localityFourAndBeyondAreRefusedWithoutReachingSwtpm() throws Exception {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        // A stopped swtpm would turn any call that reaches it into a timeout; the refusal is immediate.
        EngineFixture.signal(e.pid(), "STOP");
        try {
            for (int bad : new int[] {4, 5, -1, 255}) {
                var ex = assertThrows(IllegalArgumentException.class, () -> e.execute(bad, getRandom(8)));
                assertTrue(ex.getMessage().contains("locality " + bad), ex.getMessage());
            }
        } finally {
            EngineFixture.signal(e.pid(), "CONT");
        }
        assertEquals(0, rc(e.execute(0, getRandom(8))));
    }

    @Test
    void abortFromAnotherThreadEndsACommandHungInTheControlChannel() throws Exception {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        EngineFixture.signal(e.pid(), "STOP");
        // A new locality is set over the control channel first: the owner's thread hangs there, the
        // very channel close() would write CMD_SHUTDOWN to from the aborting thread.
        var command = java.util.concurrent.CompletableFuture.supplyAsync(() -> e.execute(1, getRandom(8)));
        Thread.sleep(200);
        assertFalse(command.isDone(), "the command hangs in a stopped swtpm");
        e.abort();
        byte[] answer = command.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(0x101, rc(answer), "the hung command ends with TPM_RC_FAILURE");
        assertFalse(e.isAlive());
        e.close(); // on the owner's side, after the command: no orderly shutdown of a dead swtpm
    }

    @Test
    void localityIsSwitchedOnChangeAndResetAfterInit() {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        // PC-client PCR 17 may only be extended from locality 2 or higher (swtpm.md trap 4).
        assertEquals(TPM_RC_LOCALITY, rc(e.execute(0, pcrExtendSha256(17, digest(1)))));
        assertEquals(0, rc(e.execute(3, pcrExtendSha256(17, digest(1)))));
        assertEquals(0, rc(e.execute(3, getRandom(8))));
        assertEquals(TPM_RC_LOCALITY, rc(e.execute(0, pcrExtendSha256(17, digest(1)))));
        assertEquals(0, rc(e.execute(3, pcrExtendSha256(17, digest(1)))));
        // swtpm's locality is global and sticky: after INIT the engine must set it again.
        e.initClear();
        assertEquals(0, e.sendStartupClear());
        assertEquals(TPM_RC_LOCALITY, rc(e.execute(0, pcrExtendSha256(17, digest(1)))));
    }

    @Test
    void saveWithoutVolatileHasOnlyPermanentState() {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        StateBlobs blobs = e.saveState(false);
        assertTrue(blobs.permanent().length > 1000, "permanent blob " + blobs.permanent().length);
        assertEquals(Optional.empty(), blobs.volatileState());
    }

    @Test
    void closeIsIdempotentAndEndsTheProcess() {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        long pid = e.pid();
        e.close();
        e.close();
        assertFalse(e.isAlive());
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        assertArrayEquals(TpmFamily.TPM2.failureResponse(), e.execute(0, getRandom(8)));
        assertThrows(IllegalStateException.class, e::initClear);
    }
}
