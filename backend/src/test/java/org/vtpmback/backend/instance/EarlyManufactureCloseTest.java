package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * A daemon's stop ends its early manufactures ({@link EarlyManufacture#close}): the one under way is aborted, its
 * swtpm gone and its runtime folder removed by the time close returns; one queued behind it never begins; the
 * worker thread has ended; a connect after the stop is refused, not served by a new manufacture. Before the fix
 * a stopped daemon's manufacture ran on, and its swtpm and folder outlived the close (the suspected cause of a
 * test folder that gained a file while it was deleted, in CI of 4a8e505). Real swtpm; the manufacturer stands in
 * for a long key generation by sending commands until its swtpm is gone.
 */
@Timeout(60)
class EarlyManufactureCloseTest {
    @TempDir
    Path tmp;

    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final ThreadFactory factory = r -> {
        Thread t = new Thread(r, "test-early-manufacture");
        t.setDaemon(true);
        threads.add(t);
        return t;
    };

    /** TPM2_GetRandom(8): cheap, answered by any started TPM 2.0. */
    private static final byte[] GET_RANDOM = {(byte) 0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8};

    @Test
    void aStopKillsTheManufactureUnderWayDropsTheQueuedOneAndRefusesLaterConnects() throws Exception {
        EngineBoot boot = new EngineBoot(new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run"))), tmp.resolve("instances"));
        CompletableFuture<TpmEngine> running = new CompletableFuture<>();
        List<Uuid> manufactured = new CopyOnWriteArrayList<>();
        EarlyManufacture early = new EarlyManufacture(boot, (engine, uuid) -> {
            manufactured.add(uuid);
            running.complete(engine);
            while (true) { // until the stop kills its swtpm: a dead engine answers with a failure code, as a key
                byte[] answer = engine.execute(0, GET_RANDOM); // generation would then fail
                if (answer[6] != 0 || answer[7] != 0 || answer[8] != 0 || answer[9] != 0) {
                    throw new IllegalStateException("TPM2_GetRandom failed");
                }
            }
        }, factory);
        Uuid first = Uuid.parse(UUID.randomUUID().toString());
        Uuid queued = Uuid.parse(UUID.randomUUID().toString());

        early.start("test/1", first, TpmFamily.TPM2);
        early.start("test/2", queued, TpmFamily.TPM2);
        TpmEngine engine = running.get(30, TimeUnit.SECONDS);
        assertTrue(Files.isDirectory(boot.blankFolderOf(first.value())), "the manufacture's folder, while it runs");

        early.close();

        assertFalse(engine.isAlive(), "the swtpm of the manufacture under way outlived close()");
        assertFalse(Files.exists(boot.blankFolderOf(first.value())), "its runtime folder outlived close()");
        assertEquals(List.of(first), manufactured, "the queued manufacture began after the stop");
        assertFalse(Files.exists(boot.blankFolderOf(queued.value())));
        for (Thread t : threads) {
            t.join(10_000); // an executor is terminated as its last worker leaves run(), a moment before the thread ends
        }
        assertEquals(List.of(), threads.stream().filter(Thread::isAlive).toList(), "worker threads outlived close()");
        InstanceException refused = assertThrows(InstanceException.class,
                () -> early.settle("test/1", first, StartMode.MANUFACTURE, TpmFamily.TPM2));
        assertTrue(refused.getMessage().contains("the daemon is stopping"), refused.getMessage());
        assertEquals(List.of(first), manufactured, "a connect after the stop manufactured");

        early.start("test/3", Uuid.parse(UUID.randomUUID().toString()), TpmFamily.TPM2);
        early.close(); // idempotent
        assertEquals(List.of(first), manufactured, "a start after the stop manufactured");
    }
}
