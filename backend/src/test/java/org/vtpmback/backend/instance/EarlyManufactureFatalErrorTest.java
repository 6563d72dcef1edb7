package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * An {@link Error} inside an early manufacture is fatal as on every daemon thread: it reaches the
 * worker thread's uncaught-exception handler (in the daemon, the one that logs a line and exits 70),
 * instead of staying in the future as a failed manufacture retried at connect. An ordinary failure
 * still stays there. Real swtpm (a blank engine is started before the manufacturer runs); the fault is
 * a {@link Manufacturer} that throws.
 */
@Timeout(60)
class EarlyManufactureFatalErrorTest {
    @TempDir
    Path tmp;

    private final CompletableFuture<Throwable> uncaught = new CompletableFuture<>();
    private final List<Throwable> allUncaught = new CopyOnWriteArrayList<>();
    /** The worker thread, with the handler the daemon installs process-wide replaced by one we can see. */
    private final ThreadFactory threads = r -> {
        Thread t = new Thread(r, "test-early-manufacture");
        t.setDaemon(true);
        t.setUncaughtExceptionHandler((thread, e) -> {
            allUncaught.add(e);
            uncaught.complete(e);
        });
        return t;
    };

    private EngineBoot boot() {
        return new EngineBoot(new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run"))), tmp.resolve("instances"));
    }

    @Test
    void anErrorReachesTheUncaughtExceptionHandlerAndNoConnectWaitsForEver() throws Exception {
        StackOverflowError injected = new StackOverflowError("injected");
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        EarlyManufacture early = new EarlyManufacture(boot(), (engine, u) -> {
            throw injected;
        }, threads);

        early.start("test", uuid, TpmFamily.TPM2);

        Throwable seen = uncaught.completeOnTimeout(null, 30, TimeUnit.SECONDS).get();
        assertSame(injected, seen, "no uncaught-exception handler saw the Error within 30 s: it stayed in the future");
        // settle does not hang on the dead task: it tries again on the calling thread, which fails the same way
        assertSame(injected, assertThrows(StackOverflowError.class,
                () -> early.settle("test", uuid, StartMode.MANUFACTURE, TpmFamily.TPM2)));
        assertEquals(List.of(injected), allUncaught);
    }

    @Test
    void anOrdinaryFailureStaysInTheFutureAndIsRetriedAtConnect() throws Exception {
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        List<String> calls = new CopyOnWriteArrayList<>();
        EarlyManufacture early = new EarlyManufacture(boot(), (engine, u) -> {
            calls.add(Thread.currentThread().getName());
            if (calls.size() == 1) {
                throw new IllegalStateException("injected");
            }
        }, threads);

        early.start("test", uuid, TpmFamily.TPM2);
        byte[] permanent = early.settle("test", uuid, StartMode.MANUFACTURE, TpmFamily.TPM2).orElseThrow().permanent();

        assertTrue(permanent.length > 0);
        assertEquals(List.of("test-early-manufacture", Thread.currentThread().getName()), calls, "early, then again at connect");
        assertEquals(List.of(), allUncaught);
    }
}
