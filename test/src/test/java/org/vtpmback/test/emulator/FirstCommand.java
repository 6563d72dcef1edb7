package org.vtpmback.test.emulator;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The TPM command tpmfront_probe sends right after publishing its ring (tpm_get_timeouts, before
 * tpm_chip_register), on its own thread so that probe() returns while the backend is still
 * connecting. It holds the one-command lock like any command; {@code submitted} opens once the
 * command is on the page (or failed), so callers know the SUBMIT (and its possibly lost
 * notification) happened.
 */
final class FirstCommand {
    private FirstCommand() {
    }

    static CompletableFuture<byte[]> start(GuestRing ring, byte[] command, int locality, ReentrantLock lock,
                                           CountDownLatch submitted, String threadName) {
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        FrontendEmulator.daemon(() -> {
            lock.lock();
            try {
                long deadline = System.nanoTime() + FrontendEmulator.PROBE_COMMAND_TIMEOUT.toNanos();
                ring.submit(command, locality, deadline);
                submitted.countDown();
                result.complete(ring.awaitResponse(deadline));
            } catch (Exception | Error e) {
                result.completeExceptionally(e);
            } finally {
                submitted.countDown();
                lock.unlock();
            }
        }, threadName).start();
        return result;
    }
}
