package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mockito.AdditionalAnswers;
import org.vtpmback.backend.engine.Reply;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Where a guest's command runs in the daemon: an idle device's command is sent to swtpm by the
 * event-channel reader and answered by the reply loop, with no pool thread in between; and since neither
 * thread waits for a swtpm, a guest whose swtpm hangs with a command in flight holds no thread and delays
 * no other guest. Counted at the engine seam (which thread starts a command, which thread sees its answer),
 * never timed.
 */
@UseSimulatedHost
@Timeout(180)
class DataPathThreadsTest {
    private static final int COMMANDS = 300;

    @Test
    void anIdleDevicesCommandsGoFromTheReaderToSwtpmAndBackWithoutAPoolThread(SimulatedVtpmHost host) throws Exception {
        Map<String, AtomicInteger> threads = new ConcurrentHashMap<>();
        watchThreads(host, threads);
        Guest guest = host.boot(UUID.randomUUID().toString());
        TpmCommands.assertRandom(guest.transmit(TpmPackets.tpm2GetRandom(8)), 8); // after the frontend's probe at connect
        threads.clear();
        for (int i = 0; i < COMMANDS; i++) {
            TpmCommands.assertRandom(guest.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        }
        System.out.println("DATA-PATH-THREADS " + threads);
        int started = count(threads, "start@" + SimulatedEventChannels.THREAD_NAME);
        int answered = count(threads, "reply@" + ReplyLoop.THREAD_NAME);
        // One guest sends one command at a time, so its device is idle whenever a notification arrives; the
        // rare exception (a notification that overtakes the end of the previous command's turn, e.g. the guest
        // polled the page) is served by the executor: most, not all.
        assertTrue(started >= COMMANDS * 3 / 4, "started on the event-channel reader: " + threads);
        assertEquals(started, answered, "every started command is answered on the reply loop: " + threads);
        assertEquals(COMMANDS, started + count(threads, "execute"), "each command went one way: " + threads);
    }

    @Test
    void aSwtpmHungWithACommandInFlightHoldsNoThreadAndDelaysNoOtherGuest(SimulatedVtpmHost host) throws Exception {
        List<Guest> guests = host.bootMany(2);
        Guest hung = guests.get(0);
        Guest other = guests.get(1);
        TpmCommands.assertRandom(hung.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        ProcessHandle swtpm = SwtpmProcesses.of(host, hung.uuid());
        Signals.send("STOP", swtpm);
        CompletableFuture<byte[]> pending;
        try {
            pending = CompletableFuture.supplyAsync(() -> {
                try {
                    return hung.transmit(TpmPackets.tpm2GetRandom(8));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            for (int i = 0; i < COMMANDS; i++) {
                TpmCommands.assertRandom(other.transmit(TpmPackets.tpm2GetRandom(8)), 8);
            }
            assertFalse(pending.isDone(), "the stopped swtpm cannot have answered");
            List<String> busy = DaemonThreads.poolThreads().stream().map(Thread::getName)
                    .filter(n -> n.equals("vtpm-" + hung.domid() + "-0")).toList();
            assertEquals(List.of(), busy, "no pool thread waits for the hung swtpm");
        } finally {
            Signals.send("CONT", swtpm);
        }
        byte[] answer = pending.get(60, TimeUnit.SECONDS);
        assertEquals(0, TpmPackets.responseCode(answer), "answered once swtpm runs again");
    }

    /** Counts, per kind and thread, the engine calls of every vTPM the daemon starts. */
    private static void watchThreads(SimulatedVtpmHost host, Map<String, AtomicInteger> threads) throws Exception {
        host.stopDaemon();
        host.engineFaults(engine -> {
            TpmEngine seam = mock(TpmEngine.class, AdditionalAnswers.delegatesTo(engine));
            doAnswer(call -> {
                Reply reply = call.getArgument(3);
                // Counted before the bytes go out: once sent, the answer can reach the guest (and the test read
                // the counts) before start returns. Undone when nothing was sent; the caller's execute comes after.
                String started = "start@" + Thread.currentThread().getName();
                bump(threads, started);
                boolean sent = engine.start(call.getArgument(0), call.getArgument(1), call.getArgument(2), answer -> {
                    bump(threads, "reply@" + Thread.currentThread().getName());
                    reply.received(answer);
                });
                if (!sent) {
                    threads.get(started).decrementAndGet();
                }
                return sent;
            }).when(seam).start(any(), anyInt(), any(), any());
            doAnswer(call -> {
                bump(threads, "execute");
                return engine.execute(call.getArgument(0), call.getArgument(1));
            }).when(seam).execute(anyInt(), any());
            return seam;
        }).startDaemon();
    }

    private static void bump(Map<String, AtomicInteger> threads, String key) {
        threads.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
    }

    private static int count(Map<String, AtomicInteger> threads, String key) {
        AtomicInteger n = threads.get(key);
        return n == null ? 0 : n.get();
    }
}
