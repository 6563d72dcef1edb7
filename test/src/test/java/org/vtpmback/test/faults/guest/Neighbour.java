package org.vtpmback.test.faults.guest;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.host.Guest;

/**
 * A well-behaved guest next to the attacks: a thread runs TPM2_GetRandom and PCR_Read in a loop for
 * the whole run, through the Linux frontend emulator, and files each latency under the window that
 * is open ({@link #window(String)}). A failed or unanswered command counts as a failure of its window.
 * Latency is compared only as a ratio of two windows of the same run.
 */
final class Neighbour implements AutoCloseable {
    /** Bound on one neighbour command; beyond it the command counts as failed (the frontend gives up). */
    static final Duration COMMAND_WAIT = Duration.ofSeconds(30);

    /** What one window saw. */
    static final class Window {
        private final String name;
        private long[] nanos = new long[1024];
        private int count;
        private int failures;
        private String firstFailure = "";

        private Window(String name) {
            this.name = name;
        }

        synchronized void add(long n) {
            if (count == nanos.length) {
                nanos = Arrays.copyOf(nanos, count * 2);
            }
            nanos[count++] = n;
        }

        synchronized void fail(String why) {
            if (failures++ == 0) {
                firstFailure = why;
            }
        }

        synchronized int count() {
            return count;
        }

        synchronized int failures() {
            return failures;
        }

        synchronized String firstFailure() {
            return firstFailure;
        }

        /** The p-th percentile in milliseconds (nearest rank); NaN when empty. */
        synchronized double percentileMs(double p) {
            if (count == 0) {
                return Double.NaN;
            }
            long[] sorted = Arrays.copyOf(nanos, count);
            Arrays.sort(sorted);
            int rank = (int) Math.ceil(p / 100.0 * count);
            return sorted[Math.max(0, Math.min(count - 1, rank - 1))] / 1e6;
        }

        String name() {
            return name;
        }
    }

    private final Guest guest;
    private final Thread loop;
    private volatile Window current;
    private volatile boolean stop;

    Neighbour(Guest guest) {
        this.guest = guest;
        this.current = new Window("warm-up");
        this.loop = new Thread(this::run, "guest-neighbour-" + guest.domid());
        loop.setDaemon(true);
        loop.start();
    }

    /** Closes the current window and opens a new one; returns the new one. */
    Window window(String name) {
        Window w = new Window(name);
        current = w;
        return w;
    }

    Guest guest() {
        return guest;
    }

    private void run() {
        int i = 0;
        while (!stop) {
            Window w = current;
            byte[] command = i++ % 2 == 0 ? TpmCommands.getRandom(16) : TpmCommands.pcrReadSha256(16);
            long t0 = System.nanoTime();
            try {
                byte[] r = guest.transmit(command);
                long took = System.nanoTime() - t0;
                if (Tpm2.rc(r) != 0) {
                    w.fail(String.format(Locale.ROOT, "rc 0x%x", Tpm2.rc(r)));
                } else {
                    w.add(took);
                }
            } catch (Exception e) {
                if (!stop) {
                    w.fail(e.toString());
                }
            }
        }
    }

    /**
     * The neighbour's figures for an attack window against its quiet window: commands, the p50 ratio,
     * the p99s and their ratio (the target is 2x); {@code judge} adds PASS/FAIL against 2x (long profile only).
     */
    static String compare(Window quiet, Window attack, boolean judge) {
        double q = quiet.percentileMs(99);
        double a = attack.percentileMs(99);
        double ratio = a / q;
        String s = String.format(Locale.ROOT, "neighbour_cmds=%d neighbour_p50_ratio=%.2f neighbour_p99_quiet_ms=%.2f"
                + " neighbour_p99_attack_ms=%.2f neighbour_p99_ratio=%.2f", attack.count(),
                attack.percentileMs(50) / quiet.percentileMs(50), q, a, ratio);
        if (judge) {
            s += " p99_within_2x=" + (ratio <= 2.0 ? "PASS" : "FAIL");
        }
        return s;
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        loop.join(COMMAND_WAIT.toMillis() + 5_000);
    }
}
