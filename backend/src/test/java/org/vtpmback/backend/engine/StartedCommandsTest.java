package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.getRandom;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commands started with {@link TpmEngine#start} against real swtpm processes: answered on the reply loop's
 * thread, mixed with the blocking {@link TpmEngine#execute} on the same channel, failed (null) when swtpm
 * dies or misses the deadline, and a stopped swtpm of one engine never holds up another engine's answers.
 */
@Timeout(60)
class StartedCommandsTest {
    @TempDir
    Path tmp;
    private EngineFixture fixture;
    private ReplyLoop loop;

    @BeforeEach
    void setUp() {
        fixture = EngineFixture.withResponseTimeout(tmp, Duration.ofSeconds(2));
        loop = ReplyLoop.start();
    }

    @AfterEach
    void tearDown() {
        fixture.close();
        loop.close();
    }

    @Test
    void aStartedCommandIsAnsweredOnTheLoopThreadAsExecuteWouldAnswerIt() throws Exception {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a"); // Startup at locality 0: now the TPM's
        CompletableFuture<String> thread = new CompletableFuture<>();
        byte[] answer = run(e, pcrExtendSha256(16, digest(7)), thread);
        assertEquals(0, rc(answer));
        assertEquals(ReplyLoop.THREAD_NAME, thread.get());
        // execute and start take turns on the same channel, each sees its own answers only
        byte[] viaExecute = pcrDigest(e.execute(0, pcrReadSha256(16)));
        byte[] viaStart = pcrDigest(run(e, pcrReadSha256(16), new CompletableFuture<>()));
        assertArrayEquals(viaExecute, viaStart);
        for (int i = 0; i < 200; i++) {
            byte[] r = i % 2 == 0 ? e.execute(0, getRandom(16)) : run(e, getRandom(16), new CompletableFuture<>());
            assertEquals(0, rc(r));
            assertEquals(10 + 2 + 16, r.length);
        }
    }

    @Test
    void aLocalityChangeOrADeadEngineIsNotStarted() throws Exception {
        SwtpmEngine e = fixture.start("t2", TpmFamily.TPM2, "a");
        e.initClear();
        ByteBuffer command = direct(getRandom(8));
        assertFalse(e.start(loop, 0, command, answer -> { }), "after an init the locality is unknown: execute sets it");
        assertEquals(0, e.sendStartupClear());
        assertFalse(e.start(loop, 1, command, answer -> { }), "another locality is a control-channel call");
        assertThrows(IllegalArgumentException.class, () -> e.start(loop, 4, command, answer -> { }));
        assertThrows(IllegalArgumentException.class, () -> e.start(loop, 0, ByteBuffer.allocateDirect(3), answer -> { }));
        e.abort();
        ProcessHandle.of(e.pid()).ifPresent(p -> p.onExit().join());
        assertFalse(e.start(loop, 0, command, answer -> { }));
    }

    @Test
    void swtpmDyingWithAStartedCommandFailsItAndTheEngine() throws Exception {
        SwtpmEngine e = fixture.booted("t2", TpmFamily.TPM2, "a");
        EngineFixture.signal(e.pid(), "STOP");
        CompletableFuture<ByteBuffer> reply = new CompletableFuture<>();
        assertTrue(e.start(loop, 0, direct(getRandom(8)), reply::complete));
        Thread.sleep(100);
        assertFalse(reply.isDone(), "a stopped swtpm does not answer");
        EngineFixture.signal(e.pid(), "KILL");
        assertNull(reply.get(10, TimeUnit.SECONDS), "the command fails");
        assertFalse(e.isAlive());
    }

    @Test
    void aStartedCommandPastTheResponseTimeoutFailsTheEngineWhileOthersAreAnswered() throws Exception {
        SwtpmEngine stuck = fixture.booted("stuck", TpmFamily.TPM2, "a");
        SwtpmEngine other = fixture.booted("other", TpmFamily.TPM2, "b");
        EngineFixture.signal(stuck.pid(), "STOP");
        try {
            CompletableFuture<ByteBuffer> hung = new CompletableFuture<>();
            assertTrue(stuck.start(loop, 0, direct(getRandom(8)), hung::complete));
            // While the stopped swtpm holds its command, the other engine's commands are answered as usual.
            for (int i = 0; i < 50; i++) {
                assertEquals(0, rc(run(other, getRandom(8), new CompletableFuture<>())));
            }
            assertFalse(hung.isDone());
            assertNull(hung.get(10, TimeUnit.SECONDS), "failed at the 2 s response timeout");
            assertFalse(stuck.isAlive());
        } finally {
            EngineFixture.signal(stuck.pid(), "CONT");
        }
        assertEquals(0, rc(run(other, getRandom(8), new CompletableFuture<>())));
    }

    /** Starts {@code command} and waits for its answer, recording the thread it came on. */
    private byte[] run(SwtpmEngine e, byte[] command, CompletableFuture<String> thread) throws Exception {
        CompletableFuture<byte[]> answer = new CompletableFuture<>();
        assertTrue(e.start(loop, 0, direct(command), received -> {
            thread.complete(Thread.currentThread().getName());
            if (received == null) {
                answer.completeExceptionally(new AssertionError("the engine failed"));
            } else {
                byte[] copy = new byte[received.remaining()];
                received.get(copy);
                answer.complete(copy);
            }
        }));
        return answer.get(10, TimeUnit.SECONDS);
    }

    private static ByteBuffer direct(byte[] command) {
        return ByteBuffer.allocateDirect(command.length).put(command).flip();
    }
}
