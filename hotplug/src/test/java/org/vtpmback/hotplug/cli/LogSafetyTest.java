package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.hotplug.config.LogLevel;

/**
 * The daemon's log through {@link LogSetup}, as the daemon command configures it: a guest flooding warnings
 * costs its own device's budget only, and a log sink nobody reads never blocks the code that logs.
 */
@Timeout(120)
class LogSafetyTest {
    private static final Logger DEVICE_LOG = Logger.getLogger("org.vtpmback.backend.device.VtpmDevice");
    private static final Pattern SUPPRESSED = Pattern.compile("\\[vtpm-7-0\\] VtpmDevice: (\\d+) similar WARN lines suppressed");
    private static final int FLOOD = 100_000;

    @AfterEach
    void restore() {
        LogSetup.configure(LogLevel.INFO, System.err);
    }

    @Test
    void aFloodFromOneDeviceIsBoundedAndCountedWhileAnotherDeviceStillLogs() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LogSetup.configure(LogLevel.INFO, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        Thread flooder = new Thread(() -> {
            for (int i = 0; i < FLOOD; i++) {
                DEVICE_LOG.warning("domain 7 vtpm 0: frontend state 'garbage " + i + "' ignored");
            }
        }, "vtpm-7-0"); // a device's serial executor names its thread so
        Thread neighbour = new Thread(() -> {
            for (int i = 0; i < 10; i++) {
                DEVICE_LOG.warning("domain 8 vtpm 0: neighbour line " + i);
            }
        }, "vtpm-8-0");
        flooder.start();
        neighbour.start();
        flooder.join();
        neighbour.join();

        // the writer sums up every 10 s: wait for the counts to add up (printed + suppressed = flood)
        long deadline = System.nanoTime() + 60_000_000_000L;
        List<String> lines;
        long printed;
        long suppressed;
        do {
            Thread.sleep(200);
            LogSetup.flush();
            lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
            printed = lines.stream().filter(l -> l.contains("[vtpm-7-0] VtpmDevice: domain 7 vtpm 0: frontend state")).count();
            suppressed = 0;
            for (String l : lines) {
                Matcher m = SUPPRESSED.matcher(l);
                if (m.find()) {
                    suppressed += Long.parseLong(m.group(1));
                }
            }
        } while (printed + suppressed < FLOOD && System.nanoTime() < deadline);

        System.out.println("flood of " + FLOOD + " WARN lines from one device: " + printed + " written, " + suppressed
                + " suppressed, " + lines.size() + " lines in all");
        assertEquals(FLOOD, printed + suppressed, "every line written or counted");
        assertTrue(printed < 2_000, printed + " lines of one device's flood written");
        assertEquals(10, lines.stream().filter(l -> l.contains("[vtpm-8-0] VtpmDevice: domain 8 vtpm 0: neighbour line")).count(),
                "the other device's lines all appear");
    }

    @Test
    void aSinkNobodyReadsDoesNotBlockTheLoggingThread() throws Exception {
        // stderr as a pipe to a process that never reads: the old handler blocked once the pipe buffer was full
        Process deaf = new ProcessBuilder("sleep", "300").start();
        try {
            LogSetup.configure(LogLevel.INFO, new PrintStream(deaf.getOutputStream(), false, StandardCharsets.UTF_8));
            Thread logger = new Thread(() -> {
                for (int domid = 1; domid <= 2_000; domid++) { // 2,000 devices, each within its own budget
                    for (int i = 0; i < 100; i++) {
                        DEVICE_LOG.warning("domain " + domid + " vtpm 0: line " + i + " " + "x".repeat(100));
                    }
                }
            }, "flooder");
            logger.start();
            logger.join(90_000);
            assertFalse(logger.isAlive(), "the logging thread is blocked by a sink nobody reads");
        } finally {
            deaf.destroyForcibly();
            deaf.waitFor();
        }
    }
}
