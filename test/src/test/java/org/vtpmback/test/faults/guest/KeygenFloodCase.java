package org.vtpmback.test.faults.guest;

import java.time.Duration;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.vtpmback.backend.engine.TpmCommands;

/**
 * A notification flood while the guest's own swtpm generates RSA keys: the guest runs
 * TPM2_CreatePrimary (a new RSA key each time) back to back for the configured time while a second
 * thread of the same guest notifies the backend as fast as it can. Every key command must be
 * answered; the daemon's live heap (after a GC, sampled during the flood) must not grow with the
 * flood: a device holds O(1) pending work whatever the guest does. A heap that cannot be read (no
 * JMX) fails the case with the reason.
 */
final class KeygenFloodCase {
    /** Growth of the daemon's live heap during the flood beyond which the pending work is not O(1). */
    static final long MAX_LIVE_HEAP_GROWTH_MB = 32;
    private static final Duration LIVE_HEAP_EVERY = Duration.ofSeconds(3);

    private KeygenFloodCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        long liveBefore = h.daemon.heapAfterGcMb();
        String beforeUnreadable = liveBefore < 0 ? h.daemon.heapUnreadable() : null;
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong notifications = new AtomicLong();
        AtomicLong liveMax = new AtomicLong(-1);
        AtomicLong liveSamples = new AtomicLong();
        try (RogueGuest rogue = h.connectedRogue()) {
            Thread flood = new Thread(() -> {
                while (!stop.get()) {
                    if (rogue.notifyBackend()) {
                        notifications.incrementAndGet();
                    }
                }
            }, "guest-flood");
            Thread live = new Thread(() -> {
                while (!stop.get()) {
                    try {
                        Thread.sleep(LIVE_HEAP_EVERY.toMillis());
                    } catch (InterruptedException e) {
                        return;
                    }
                    long mb = stop.get() ? -1 : h.daemon.heapAfterGcMb();
                    if (mb >= 0) {
                        liveMax.accumulateAndGet(mb, Math::max);
                        liveSamples.incrementAndGet();
                    }
                }
            }, "guest-flood-heap");
            Random random = new Random(o.seed() ^ 0x4e9L);
            long keys = 0;
            long answered = 0;
            long failed = 0;
            long keyNanos = 0;
            flood.start();
            live.start();
            long end = System.nanoTime() + o.keygen().toNanos();
            try {
                while (System.nanoTime() < end && h.daemon.isAlive()) {
                    keys++;
                    long t0 = System.nanoTime();
                    Optional<byte[]> r = rogue.exchange(Tpm2.createPrimaryRsa(o.rsaBits(), random), o.answerBound());
                    keyNanos += System.nanoTime() - t0;
                    if (r.isEmpty()) {
                        break;
                    }
                    answered++;
                    if (Tpm2.rc(r.get()) != 0) {
                        failed++;
                        continue;
                    }
                    Optional<byte[]> f = rogue.exchange(Tpm2.flushContext(Tpm2.createdHandle(r.get())), o.answerBound());
                    if (f.isEmpty()) {
                        break;
                    }
                }
            } finally {
                stop.set(true);
                flood.join();
                live.interrupt();
                live.join();
            }
            Optional<byte[]> after = rogue.exchange(TpmCommands.getRandom(8), Duration.ofSeconds(30));
            line.put("rsa_bits", o.rsaBits()).put("keys", keys).put("keys_ok", keys - failed)
                    .put("key_avg_ms", keys == 0 ? 0 : keyNanos / keys / 1_000_000).put("notifications", notifications.get());
            line.count("unanswered", keys - answered, 0);
            line.flag("flooder_served_after", after.isPresent() && Tpm2.rc(after.get()) == 0, true);
            String unreadable = beforeUnreadable != null ? beforeUnreadable
                    : liveSamples.get() == 0 ? "no sample during the flood: " + h.daemon.heapUnreadable() : null;
            heapCheck(line, liveBefore, liveMax.get(), liveSamples.get(), unreadable);
            line.flag("destroy_closed_in_10s", rogue.destroy(), true);
        }
    }

    /**
     * The O(1) pending-work check. A heap that could not be read is a failure with its reason, never a
     * pass: the check exists to catch a queue growing with the flood, and "no figure" proves nothing.
     *
     * @param unreadable why the heap was not read before or during the flood; null when it was
     */
    static void heapCheck(CaseLine line, long before, long max, long samples, String unreadable) {
        line.put("live_heap_before_mb", before).put("live_heap_max_mb", max).put("live_heap_samples", samples);
        if (unreadable != null) {
            line.put("live_heap_bounded", "not-measured");
            line.violation("live_heap_bounded not measured: the daemon's heap could not be read (" + unreadable + ")");
            return;
        }
        line.flag("live_heap_bounded", max - before <= MAX_LIVE_HEAP_GROWTH_MB, true);
    }
}
