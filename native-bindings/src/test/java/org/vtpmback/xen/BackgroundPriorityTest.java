package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The real libc: a thread that lowers its priority runs at nice 19 and so does every process it starts (what
 * the pool of ready-made TPMs relies on for its swtpm), while the other threads of the JVM keep theirs.
 */
@Timeout(30)
class BackgroundPriorityTest {
    @Test
    void theCallingThreadAndTheProcessesItStartsRunAtTheLowestPriorityTheOthersDoNot() throws Exception {
        int before = niceOf(Files.readString(Path.of("/proc/thread-self/stat")));
        CompletableFuture<int[]> seen = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                BackgroundPriority.lowerCallingThread(BackgroundPriority.LOWEST);
                int own = niceOf(Files.readString(Path.of("/proc/thread-self/stat")));
                Process child = new ProcessBuilder("cat", "/proc/self/stat").start();
                String stat = new String(child.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                child.waitFor(10, TimeUnit.SECONDS);
                seen.complete(new int[] {own, niceOf(stat)});
            } catch (Exception | Error e) {
                seen.completeExceptionally(e);
            }
        }, "test-background");
        t.start();
        int[] nice = seen.get(20, TimeUnit.SECONDS);
        assertEquals(19, nice[0], "the thread itself");
        assertEquals(19, nice[1], "a process it started");
        assertEquals(before, niceOf(Files.readString(Path.of("/proc/thread-self/stat"))), "this thread is untouched");
    }

    @Test
    void aValueOutsideTheRangeIsRefusedBeforeTheCall() {
        assertThrows(IllegalArgumentException.class, () -> BackgroundPriority.lowerCallingThread(-1));
        assertThrows(IllegalArgumentException.class, () -> BackgroundPriority.lowerCallingThread(20));
    }

    /** Field 19 of /proc/<pid>/stat (proc(5)), counted after the command name's closing parenthesis. */
    private static int niceOf(String stat) {
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        return Integer.parseInt(after[19 - 3]);
    }
}
