package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class FatalErrorHandlerTest {
    private final List<Integer> halts = new CopyOnWriteArrayList<>();

    @Test
    void logsOneLineNamingErrorAndThreadThenHaltsWithSeventy() throws Exception {
        List<String> lines = new CopyOnWriteArrayList<>();
        List<Throwable> causes = new CopyOnWriteArrayList<>();
        FatalErrorHandler handler = new FatalErrorHandler((line, cause) -> {
            lines.add(line);
            causes.add(cause);
        }, halts::add);
        OutOfMemoryError oom = new OutOfMemoryError("Java heap space");
        Thread reader = new Thread(() -> {
            throw oom;
        }, "vtpm-evtchn");
        reader.setUncaughtExceptionHandler(handler);
        reader.start();
        reader.join();

        assertEquals(List.of(FatalErrorHandler.EXIT_STATUS), halts);
        assertEquals(1, lines.size(), lines.toString());
        assertEquals("fatal: java.lang.OutOfMemoryError on thread vtpm-evtchn: Java heap space; exiting with status 70"
                + " (systemd restarts the daemon; running guests keep their TPMs in their swtpm processes)", lines.get(0));
        assertSame(oom, causes.get(0));
    }

    @Test
    void aBlockedLogDoesNotKeepTheProcessAlive() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        FatalErrorHandler handler = new FatalErrorHandler((line, cause) -> {
            try {
                never.await(); // stderr is a pipe nobody reads
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, halts::add);
        Thread worker = new Thread(() -> handler.uncaughtException(Thread.currentThread(), new StackOverflowError()), "vtpm-worker-1");
        worker.start();
        worker.join(TimeUnit.SECONDS.toMillis(20));
        assertEquals(List.of(FatalErrorHandler.EXIT_STATUS), halts, "halted after the flush bound, without the line");
        assertFalse(worker.isAlive());
    }
}
