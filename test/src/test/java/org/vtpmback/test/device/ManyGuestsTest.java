package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;

/**
 * Sixteen guests on one daemon, each with its own vTPM uuid and swtpm: all answer concurrently;
 * killing one guest's swtpm gives that guest one TPM error response and then a working TPM again,
 * while the other fifteen keep answering without a single error; and once idle, the guests cost
 * the daemon no threads.
 */
@UseSimulatedHost
@Timeout(420)
class ManyGuestsTest {
    private static final int GUESTS = 16;
    private static final int ROUNDS = 4;
    private static final int TPM_RC_FAILURE = 0x101;

    SimulatedVtpmHost host;
    ExecutorService clients;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
        clients = Executors.newCachedThreadPool(r -> new Thread(r, "guest-client"));
    }

    @AfterEach
    void stop() {
        clients.shutdownNow(); // before the extension closes the host, as the clients talk to its guests
    }

    @Test
    void sixteenGuestsAnswerConcurrentlyAndOneEngineCrashStaysLocal() throws Exception {
        DaemonThreads baseline = DaemonThreads.snapshot();
        List<Guest> guests = host.bootMany(GUESTS);
        assertEquals(GUESTS, host.daemon().devices().size());

        for (int round = 0; round < ROUNDS; round++) {
            allAnswerAtOnce(guests, round);
        }

        Guest victim = guests.get(0);
        List<Guest> others = guests.subList(1, GUESTS);
        ProcessHandle engine = SwtpmProcesses.of(host, victim.uuid());
        Set<Long> otherEngines = SwtpmProcesses.pidsOf(host, others);
        assertEquals(GUESTS - 1, otherEngines.size(), "one swtpm per guest");

        try (GuestLoad load = GuestLoad.start(others, clients)) {
            assertTrue(load.awaitEachServed(1, SimulatedVtpmHost.WAIT), "the other guests are busy before the kill");
            assertTrue(engine.destroyForcibly(), "kill -9 " + engine.pid());
            engine.onExit().get(10, TimeUnit.SECONDS);

            byte[] failed = victim.transmit(TpmPackets.tpm2GetRandom(8)); // answered, not hung
            assertTrue(TpmPackets.isWellFormedResponse(failed), HexFormat.of().formatHex(failed));
            assertEquals(TPM_RC_FAILURE, TpmPackets.responseCode(failed), "the command hit by the crash gets TPM_RC_FAILURE");
            TpmCommands.assertRandom(victim.transmit(TpmPackets.tpm2GetRandom(8)), 8);
            ProcessHandle restarted = SwtpmProcesses.of(host, victim.uuid());
            assertNotEquals(engine.pid(), restarted.pid(), "the device started a new engine");

            long servedAtRecovery = load.minServed();
            assertTrue(load.awaitEachServed(servedAtRecovery + 2, SimulatedVtpmHost.WAIT), "others keep answering after the crash");
            load.stop();
            assertEquals(List.of(), load.errors(), "the other guests never saw an error");
            assertEquals(otherEngines, SwtpmProcesses.pidsOf(host, others), "the other guests' engines were left alone");
        }
        allAnswerAtOnce(guests, ROUNDS);

        // Idle: the pool's threads expire after 30 s without work; nothing per guest may remain.
        List<Thread> stillPooled = DaemonThreads.awaitPoolDrained(Duration.ofSeconds(60));
        Map<String, List<String>> added = DaemonThreads.byOwner(baseline.added());
        System.out.println("threads added by 16 idle guests, by owner: " + added);
        assertEquals(List.of(), stillPooled.stream().map(Thread::getName).toList(), "idle devices hold no pool thread");
        List<String> daemonThreads = added.getOrDefault("daemon", List.of());
        // One event-channel reader and one xenstore watch reader serve all guests; a fixed few are fair,
        // anything that grows with the number of guests is not.
        assertTrue(daemonThreads.size() < 4, "daemon threads added by " + GUESTS + " idle guests: " + daemonThreads);
        assertTrue(daemonThreads.stream().noneMatch(n -> n.matches("vtpm-\\d+-\\d+")), daemonThreads.toString());
    }

    /** Every guest sends GetRandom at the same moment; all answer, with different bytes. */
    private void allAnswerAtOnce(List<Guest> guests, int round) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<byte[]>> answers = new ArrayList<>();
        for (Guest g : guests) {
            answers.add(clients.submit(() -> {
                go.await();
                return g.transmit(TpmPackets.tpm2GetRandom(32));
            }));
        }
        go.countDown();
        Set<String> randoms = ConcurrentHashMap.newKeySet();
        for (int i = 0; i < guests.size(); i++) {
            byte[] r = answers.get(i).get(60, TimeUnit.SECONDS);
            TpmCommands.assertRandom(r, 32);
            randoms.add(HexFormat.of().formatHex(TpmPackets.randomBytes(r)));
        }
        assertEquals(guests.size(), randoms.size(), "round " + round + ": every guest got its own random bytes");
    }

    /** One client thread per guest sending GetRandom in a loop and noting any error. */
    static final class GuestLoad implements AutoCloseable {
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Map<Integer, Long> served = new ConcurrentHashMap<>();
        private final List<String> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final List<Future<?>> loops = new ArrayList<>();

        static GuestLoad start(List<Guest> guests, ExecutorService pool) {
            GuestLoad load = new GuestLoad();
            for (Guest g : guests) {
                load.served.put(g.domid(), 0L);
                load.loops.add(pool.submit(() -> load.run(g)));
            }
            return load;
        }

        private void run(Guest g) {
            while (!stop.get()) {
                try {
                    byte[] r = g.transmit(TpmPackets.tpm2GetRandom(16));
                    if (TpmPackets.responseCode(r) != 0 || TpmPackets.randomBytes(r).length != 16) {
                        errors.add("domain " + g.domid() + ": " + HexFormat.of().formatHex(r));
                    }
                } catch (Exception e) {
                    errors.add("domain " + g.domid() + ": " + e);
                }
                synchronized (this) {
                    served.merge(g.domid(), 1L, Long::sum);
                    notifyAll();
                }
            }
        }

        synchronized long minServed() {
            return served.values().stream().mapToLong(Long::longValue).min().orElse(0);
        }

        synchronized boolean awaitEachServed(long n, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (minServed() < n) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }

        void stop() throws Exception {
            stop.set(true);
            for (Future<?> f : loops) {
                f.get(60, TimeUnit.SECONDS);
            }
        }

        List<String> errors() {
            return List.copyOf(errors);
        }

        @Override
        public void close() {
            stop.set(true);
        }
    }
}
