package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vtpmback.backend.device.DeviceId;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;

/**
 * Frontends that break the protocol, against the real daemon: every violation gives a clear error
 * for that device only (error node + Closing for handshake violations, a TPM error response for
 * per-command ones), logged with the domain and device; the daemon keeps running and a neighbour
 * guest booted first keeps answering after each case.
 */
@UseXenstored
@Timeout(300)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileFrontendTest {
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final int TPM_RC_COMMAND_SIZE = 0x142;
    private static final int TPM_RC_LOCALITY = 0x907;
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(600);

    SimulatedVtpmHost host;
    DaemonLog log;
    Guest neighbour;
    /** One connected hostile guest shared by the per-command cases (a vTPM costs a manufacture). */
    HostileFrontend rogue;

    @BeforeAll
    void start(XenstoredDaemon xsd, @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS) Path work)
            throws Exception {
        log = DaemonLog.capture();
        host = new SimulatedVtpmHost(xsd, work).startDaemon();
        neighbour = host.boot(UUID.randomUUID().toString());
        TpmCommands.assertRandom(neighbour.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        rogue = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), UUID.randomUUID().toString());
        assertTrue(rogue.connect(SimulatedVtpmHost.WAIT), "well-behaved connect of the rogue guest");
    }

    @AfterAll
    void stop() throws Exception {
        rogue.close();
        host.close();
        log.close();
    }

    @ParameterizedTest(name = "length {0}, size field {1}, locality {2}, extra pages {3} -> TPM_RC_{4}")
    @CsvSource({
        "5000, 12,   0, 0, COMMAND_SIZE, length 5000 exceeds",
        "12,   12,   0, 1, COMMAND_SIZE, nr_extra_pages 1",
        "20,   12,   0, 0, COMMAND_SIZE, paramSize 12 differs from the page length 20",
        "12,   20,   0, 0, COMMAND_SIZE, paramSize 20 differs from the page length 12",
        "4,    4,    0, 0, COMMAND_SIZE, shorter than",
        "12,   12,   4, 0, LOCALITY, locality 4",
        "12,   12, 255, 0, LOCALITY, locality 255",
    })
    void perCommandViolationGetsATpmErrorResponse(long length, int sizeField, int locality, int extraPages,
                                                  String rc, String logged) throws Exception {
        byte[] data = ByteBuffer.allocate(64).put(TpmPackets.tpm2GetRandom(8)).putInt(2, sizeField).array();
        byte[] response = rogue.exchange(length, locality, extraPages, data, WAIT)
                .orElseThrow(() -> new AssertionError("no response: the backend hung on a bad request"));
        assertTrue(TpmPackets.isWellFormedResponse(response), HexFormat.of().formatHex(response));
        int expected = rc.equals("LOCALITY") ? TPM_RC_LOCALITY : TPM_RC_COMMAND_SIZE;
        assertEquals(expected, TpmPackets.responseCode(response), HexFormat.of().formatHex(response));
        log.awaitContaining(WAIT, "domain " + rogue.domid + " vtpm 0", logged);

        assertEquals(Optional.of(XenbusState.CONNECTED.wire()), rogue.backendState(), "a bad command does not end the device");
        TpmCommands.assertRandom(rogue.exchange(TpmPackets.tpm2GetRandom(8), WAIT).orElseThrow(), 8);
        assertNeighbourUnaffected();
    }

    @Test
    void unknownPageStateIsIgnored() throws Exception {
        rogue.writePageState(7);
        log.awaitContaining(WAIT, "domain " + rogue.domid + " vtpm 0", "state 7");
        assertEquals(7, rogue.page().get(HostileFrontend.OFFSET_STATE), "the backend leaves a state it does not know alone");
        assertEquals(Optional.of(XenbusState.CONNECTED.wire()), rogue.backendState());
        TpmCommands.assertRandom(rogue.exchange(TpmPackets.tpm2GetRandom(8), WAIT).orElseThrow(), 8);
        assertNeighbourUnaffected();
    }

    @Test
    void unknownPageStateFoundAtConnectIsIgnored() throws Exception {
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), UUID.randomUUID().toString())) {
            fe.allocateRing().publishRing();
            fe.page().put(HostileFrontend.OFFSET_STATE, (byte) 7); // before the backend ever looked: the connect-time scan
            fe.state(XenbusState.INITIALISED);
            assertTrue(fe.awaitBackend(XenbusState.CONNECTED, SimulatedVtpmHost.WAIT), "connects despite the odd byte; is "
                    + fe.backendState() + ", error " + fe.errorNode());
            log.awaitContaining(WAIT, "domain " + fe.domid + " vtpm 0", "state 7");
            assertEquals(Optional.empty(), fe.errorNode());
            TpmCommands.assertRandom(fe.exchange(TpmPackets.tpm2GetRandom(8), WAIT).orElseThrow(), 8);
            assertNeighbourUnaffected();
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false));
        }
    }

    /** REF and PORT stand for the guest's real grant reference and port; "-" leaves the key out. */
    @ParameterizedTest(name = "ring-ref {0}, event-channel {1}, feature-protocol-v2 {2}")
    @CsvSource({
        "abc,         PORT,        1, ring-ref 'abc'",
        "-1,          PORT,        1, ring-ref '-1'",
        "99999999999, PORT,        1, ring-ref '99999999999'",
        "2147483653,  PORT,        1, ring-ref '2147483653'",
        "' 8',        PORT,        1, ring-ref ' 8'",
        "REF,         abc,         1, event-channel 'abc'",
        "REF,         -1,          1, event-channel '-1'",
        "REF,         99999999999, 1, event-channel '99999999999'",
        "REF,         0,           1, event-channel 0",
        "-,           PORT,        1, did not write ring-ref",
        "REF,         PORT,        -, feature-protocol-v2",
        "REF,         PORT,        0, feature-protocol-v2",
        "4242,        PORT,        1, not granted",
        "REF,         4000,        1, port 4000",
    })
    void badRingKeysFailTheDeviceOnly(String ringRef, String port, String v2, String expected) throws Exception {
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), UUID.randomUUID().toString())) {
            fe.allocateRing();
            fe.publish(value(ringRef, fe.ringRef(), fe.port()), value(port, fe.ringRef(), fe.port()), value(v2, null, null));
            fe.state(XenbusState.INITIALISED);

            assertTrue(fe.awaitBackend(XenbusState.CLOSING, WAIT), "backend should give up with Closing, is " + fe.backendState());
            String error = fe.errorNode().orElseThrow(() -> new AssertionError("no error node for domain " + fe.domid));
            assertTrue(error.startsWith("22 ") && error.contains(expected), error);
            String line = log.awaitContaining(WAIT, "domain " + fe.domid + " vtpm 0", expected);
            assertTrue(line.startsWith("SEVERE"), line);

            assertNeighbourUnaffected();
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false), "removal of the failed device reaches Closed");
        }
        assertNeighbourUnaffected();
    }

    @Test
    void stateFlappingEndsInADefinedState() throws Exception {
        try (HostileFrontend fe = new HostileFrontend(host, NEXT_DOMID.getAndIncrement(), UUID.randomUUID().toString())) {
            fe.allocateRing().publishRing();
            XenbusState[] cycle = {XenbusState.INITIALISING, XenbusState.INITIALISED, XenbusState.CONNECTED,
                XenbusState.CLOSING, XenbusState.CLOSED, XenbusState.INITIALISED};
            for (int i = 0; i < 40; i++) {
                for (XenbusState s : cycle) {
                    fe.state(s);
                }
            }
            fe.state(XenbusState.CLOSED);
            assertTrue(fe.awaitBackend(XenbusState.CLOSED, WAIT), "frontend Closed -> backend Closed; is "
                    + fe.backendState() + "; " + log.tail(10));
            // Restarts are rate-limited (StrikesThroughDaemonTest): the storm may have failed the device.
            Optional<String> error = fe.errorNode();
            if (error.isPresent()) {
                assertTrue(error.get().contains("restarted the handshake"), error.get());
            } else {
                fe.state(XenbusState.INITIALISING);
                assertTrue(fe.awaitBackend(XenbusState.INIT_WAIT, WAIT), "frontend starts over -> InitWait; is " + fe.backendState());
                fe.state(XenbusState.INITIALISED);
                assertTrue(fe.awaitBackend(XenbusState.CONNECTED, WAIT), "proper connect; is " + fe.backendState());
                TpmCommands.assertRandom(fe.exchange(TpmPackets.tpm2GetRandom(16), WAIT).orElseThrow(), 16);
            }
            assertNeighbourUnaffected();
            assertTrue(host.toolstack().removeVtpm(fe.domid, 0, false));
        }
    }

    private static String value(String spec, String ref, String port) {
        return switch (spec) {
            case "-" -> null;
            case "REF" -> ref;
            case "PORT" -> port;
            default -> spec;
        };
    }

    private void assertNeighbourUnaffected() throws Exception {
        assertTrue(host.daemon().devices().contains(new DeviceId(neighbour.domid(), 0)), "daemon still serves the neighbour");
        TpmCommands.assertRandom(neighbour.transmit(TpmPackets.tpm2GetRandom(8)), 8);
        assertTrue(neighbour.frontend().isConnected(), "neighbour still connected");
    }
}
