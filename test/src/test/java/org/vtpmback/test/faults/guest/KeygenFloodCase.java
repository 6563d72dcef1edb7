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
 * flood: a device holds O(1) pending work whatever the guest does.
 */
final class KeygenFloodCase {
    /** Growth of the daemon's live heap during the flood beyond which the pending work is not O(1). */
    static final long MAX_LIVE_HEAP_GROWTH_MB = 32;
    private static final Duration LIVE_HEAP_EVERY = Duration.ofSeconds(3);

    private KeygenFloodCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        long liveBefore = h.daemon.heapAfterGcMb();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong notifications = new AtomicLong();
        AtomicLong liveMax = new AtomicLong(liveBefore);
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
                    if (!stop.get()) {
                        liveMax.accumulateAndGet(h.daemon.heapAfterGcMb(), Math::max);
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
            long growth = liveMax.get() - liveBefore;
            line.put("live_heap_before_mb", liveBefore).put("live_heap_max_mb", liveMax.get());
            line.flag("live_heap_bounded", liveBefore < 0 || growth <= MAX_LIVE_HEAP_GROWTH_MB, true);
            line.flag("destroy_closed_in_10s", rogue.destroy(), true);
        }
    }
}
