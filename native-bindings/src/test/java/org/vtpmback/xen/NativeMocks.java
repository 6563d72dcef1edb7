package org.vtpmback.xen;

import com.sun.jna.Native;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.mockito.stubbing.Answer;

/** Helpers for tests that inject failures into a mocked raw library. */
final class NativeMocks {
    static final int EACCES = 13;
    static final int EAGAIN = 11;
    static final int ESRCH = 3;
    static final int EINVAL = 22;

    private NativeMocks() {
    }

    /** A C call that sets errno and returns {@code result} (NULL or -1), as the libraries do. */
    static <T> Answer<T> failWith(int errno, T result) {
        return i -> {
            Native.setLastError(errno);
            return result;
        };
    }

    /** Runs {@code action} on two threads released together; waits for both. */
    static void onTwoThreads(Runnable action) throws InterruptedException {
        CountDownLatch start = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(2);
        Runnable body = () -> {
            try {
                start.await();
                action.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                done.countDown();
            }
        };
        new Thread(body, "close-race-1").start();
        new Thread(body, "close-race-2").start();
        start.countDown();
        if (!done.await(10, TimeUnit.SECONDS)) {
            throw new AssertionError("threads did not finish");
        }
    }
}
