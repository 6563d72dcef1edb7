package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vtpmback.backend.device.DeviceId;
import org.vtpmback.test.emulator.FrontendEmulator;
import org.vtpmback.test.emulator.NodeWatcher;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xenstore.XenbusState;

/**
 * What libxl and Linux do to a device over its life, against the real daemon: creation within
 * libxl's InitWait budget, a frontend that closes and probes again, removal within libxl's 10 s,
 * and a daemon restart under connected guests that the guests never notice.
 */
@UseSimulatedHost
@Timeout(240)
class ToolstackSequencesTest {
    private static final Duration LIBXL_BUDGET = Duration.ofSeconds(10);
    private static final Duration WAIT = SimulatedVtpmHost.WAIT;
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(700);
    private static final byte[] DIGEST = HexFormat.of().parseHex("5a".repeat(32));

    /** Captured from the test instance's creation, so from before the extension starts the daemon. */
    final DaemonLog log = DaemonLog.capture();
    /** Closed after the test, before the extension closes the host. */
    final List<AutoCloseable> closeLast = new ArrayList<>(List.of(log));
    SimulatedVtpmHost host;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeLast) {
            c.close();
        }
    }

    @Test
    void createReachesInitWaitWithinLibxlBudgetAndTheGuestConnects() throws Exception {
        int domid = NEXT_DOMID.getAndIncrement();
        host.domains().record(domid, Optional.empty());
        host.toolstack().createDomain(domid);
        Duration toInitWait = host.toolstack().addVtpm(domid, 0, UUID.randomUUID().toString()); // throws after 10 s
        assertTrue(toInitWait.compareTo(LIBXL_BUDGET) < 0, "InitWait after " + toInitWait);
        assertTrue(toInitWait.compareTo(Duration.ofSeconds(2)) < 0, "InitWait must not wait for the TPM engine: " + toInitWait);
        assertEquals(Optional.of("1"), host.xenstore().read(host.toolstack().backendPath(domid, 0).child("feature-protocol-v2")),
                "feature-protocol-v2 advertised with InitWait");

        FrontendEmulator fe = frontend(domid);
        fe.probe();
        assertTrue(fe.awaitConnected(WAIT), "frontend connects");
        assertTrue(TpmPackets.isWellFormedResponse(fe.firstResponse().get(WAIT.toSeconds(), TimeUnit.SECONDS)));
        TpmCommands.assertRandom(fe.transmit(TpmPackets.tpm2GetRandom(16), WAIT), 16);
    }

    @Test
    void frontendReconnectsAfterClosedAndTheVtpmKeepsItsState() throws Exception {
        Guest guest = host.boot(UUID.randomUUID().toString());
        byte[] pcr = extendPcr16(guest.frontend());

        guest.frontend().close(); // module unload: Closed
        assertTrue(backendReaches(guest.domid(), XenbusState.CLOSED), "backend follows the frontend to Closed");

        // Linux probes again only for a node in Initialising: the node starts over, then a new probe.
        host.xenstore().write(host.toolstack().frontendPath(guest.domid(), 0).child("state"), XenbusState.INITIALISING.wire());
        assertTrue(backendReaches(guest.domid(), XenbusState.INIT_WAIT), "backend offers InitWait again while online = 1");
        FrontendEmulator again = frontend(guest.domid());
        again.probe();
        assertTrue(again.awaitConnected(WAIT), "reconnected; backend " + host.toolstack().backendState(guest.domid(), 0));
        assertTrue(TpmPackets.isWellFormedResponse(again.firstResponse().get(WAIT.toSeconds(), TimeUnit.SECONDS)));
        assertArrayEquals(pcr, readPcr16(again), "the parked vTPM kept PCR 16 across the reconnect");
        TpmCommands.assertRandom(again.transmit(TpmPackets.tpm2GetRandom(8), WAIT), 8);
    }

    /** Without force: xl vtpm-detach; with force: domain destroy, the frontend directory deleted first. */
    @ParameterizedTest(name = "force {0}")
    @ValueSource(booleans = {false, true})
    void removalReachesClosedWithinLibxlBudget(boolean force) throws Exception {
        Guest guest = host.boot(UUID.randomUUID().toString());
        TpmCommands.assertRandom(guest.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        ProcessHandle engine = SwtpmProcesses.of(host, guest.uuid());
        long start = System.nanoTime();
        boolean closed = host.toolstack().removeVtpm(guest.domid(), 0, force);
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(closed, "backend reached Closed within libxl's 10 s");
        assertTrue(took.compareTo(LIBXL_BUDGET) < 0, "removal took " + took);
        // The vTPM was saved and its engine stopped before Closed was reported (libxl destroys the domain next).
        engine.onExit().get(5, TimeUnit.SECONDS);
        log.awaitContaining(WAIT, "domain " + guest.domid() + " vtpm 0: device gone");
        assertFalse(host.daemon().devices().contains(new DeviceId(guest.domid(), 0)), "the daemon let go of the device");
    }

    @Test
    void daemonRestartUnderConnectedGuestsIsInvisibleToThem() throws Exception {
        List<Guest> guests = List.of(host.boot(UUID.randomUUID().toString()), host.boot(UUID.randomUUID().toString()));
        List<byte[]> pcrs = new ArrayList<>();
        List<NodeWatcher> watchers = new ArrayList<>();
        for (Guest g : guests) {
            pcrs.add(extendPcr16(g.frontend()));
            watchers.add(watch(host.toolstack().backendPath(g.domid(), 0).child("state")));
            watchers.add(watch(host.toolstack().frontendPath(g.domid(), 0).child("state")));
        }
        for (NodeWatcher w : watchers) {
            assertTrue(w.awaitEvents(1, WAIT), "initial watch event"); // the watch is in place from here on
        }

        List<Long> swtpmPids = guests.stream().map(g -> SwtpmProcesses.of(host, g.uuid()).pid()).toList();

        host.stopDaemon();
        host.startDaemon();

        for (int i = 0; i < guests.size(); i++) {
            Guest g = guests.get(i);
            // Submitted right after the restart: the new daemon may find it on the page when it re-attaches.
            TpmCommands.assertRandom(g.transmit(TpmPackets.tpm2GetRandom(8)), 8);
            assertArrayEquals(pcrs.get(i), readPcr16(g.frontend()), "domain " + g.domid() + ": PCR 16 survived the restart");
            assertTrue(host.daemon().devices().contains(new DeviceId(g.domid(), 0)));
            // taken over as it ran: no new swtpm, no restore (the restart costs a guest only the daemon's start)
            assertEquals(swtpmPids.get(i), SwtpmProcesses.of(host, g.uuid()).pid(), "domain " + g.domid() + ": swtpm pid");
            assertTrue(logged("vTPM " + g.uuid() + ": took over its running swtpm pid " + swtpmPids.get(i)), String.join("\n", log.tail(30)));
        }
        for (NodeWatcher w : watchers) {
            List<String> seen = w.seen();
            assertTrue(seen.stream().noneMatch(v -> v.equals("5") || v.equals("6")), "state went to Closing/Closed: " + seen);
            // Never rewriting an unchanged state: no write at all, so no event after the initial one.
            assertEquals(List.of("4"), seen, "state node writes during the restart");
        }
    }

    @Test
    void aSwtpmThatDiedWhileNoDaemonRanIsRestoredFromTheStopSnapshot() throws Exception {
        Guest g = host.boot(UUID.randomUUID().toString());
        byte[] pcr = extendPcr16(g.frontend());
        host.stopDaemon();
        ProcessHandle left = SwtpmProcesses.of(host, g.uuid());
        left.destroyForcibly();
        left.onExit().get(30, TimeUnit.SECONDS);

        host.startDaemon();

        assertArrayEquals(pcr, readPcr16(g.frontend()), "PCR 16 restored from the DAEMON_STOPPED snapshot");
        assertTrue(logged("restoring the DAEMON_STOPPED snapshot"), String.join("\n", log.tail(30)));
        assertFalse(logged("took over its running swtpm"), String.join("\n", log.tail(30)));
    }

    @Test
    void aSurvivorNoGuestClaimsIsStoppedAndItsSnapshotKept() throws Exception {
        Guest g = host.boot(UUID.randomUUID().toString());
        extendPcr16(g.frontend());
        host.stopDaemon();
        ProcessHandle left = SwtpmProcesses.of(host, g.uuid());
        // the domain goes away while no daemon runs: libxl removes its backend after its 10 s
        host.toolstack().destroyDomain(g.domid(), 0);

        host.startDaemon();
        assertTrue(left.isAlive(), "held for a re-attach until the grace ends");
        host.instances().stopUnclaimedSurvivors(); // what the grace timer runs

        assertTrue(left.onExit().get(30, TimeUnit.SECONDS) != null && !left.isAlive());
        assertTrue(logged("vTPM " + g.uuid() + ": no guest re-attached within"), String.join("\n", log.tail(30)));
        assertEquals(org.vtpmback.backend.state.InstanceRecord.EndKind.DAEMON_STOPPED,
                host.store().load(org.vtpmback.backend.state.Uuid.parse(g.uuid())).orElseThrow().lastEnd());
    }

    private boolean logged(String part) {
        return !log.matching(l -> l.contains(part)).isEmpty();
    }

    private NodeWatcher watch(org.vtpmback.xenstore.XsPath node) {
        NodeWatcher w = new NodeWatcher(host.xenstore(), node);
        closeLast.add(w);
        return w;
    }

    private FrontendEmulator frontend(int domid) {
        FrontendEmulator fe = new FrontendEmulator(host.xenstore(), host.simulation(), domid, 0, SimulatedVtpmHost.BACKEND_DOMID);
        closeLast.add(fe);
        return fe;
    }

    private boolean backendReaches(int domid, XenbusState state) throws InterruptedException {
        try (NodeWatcher w = new NodeWatcher(host.xenstore(), host.toolstack().backendPath(domid, 0).child("state"))) {
            return w.await(state, WAIT);
        }
    }

    /** Extends PCR 16 once and returns the value it must have from now on (it starts at zero). */
    private static byte[] extendPcr16(FrontendEmulator fe) throws Exception {
        byte[] before = TpmCommands.pcrValue(fe.transmit(TpmCommands.pcrRead(16), WAIT));
        byte[] r = fe.transmit(TpmCommands.pcrExtend(16, DIGEST), WAIT);
        assertEquals(0, TpmPackets.responseCode(r), HexFormat.of().formatHex(r));
        byte[] expected = TpmCommands.extended(before, DIGEST);
        assertArrayEquals(expected, readPcr16(fe));
        assertFalse(java.util.Arrays.equals(new byte[32], expected));
        return expected;
    }

    private static byte[] readPcr16(FrontendEmulator fe) throws Exception {
        return TpmCommands.pcrValue(fe.transmit(TpmCommands.pcrRead(16), WAIT));
    }
}
