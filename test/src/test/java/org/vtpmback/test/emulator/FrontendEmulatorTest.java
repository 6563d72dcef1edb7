package org.vtpmback.test.emulator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * The frontend emulator against the test-only backend stub, a real swtpm and a real cxenstored:
 * the Linux xen-tpmfront behaviours a backend has to survive (first command before connect,
 * resume with a new ring, backend Closing, cancel on timeout, protocol v2 check).
 */
@UseXenstored(XenstoredDaemon.Flavour.C)
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FrontendEmulatorTest {
    private static final Duration WAIT = EmulatorFixture.WAIT;
    /**
     * What swtpm 0.7.1 / libtpms 0.9.2 in TPM 2.0 mode answer to Linux's TPM 1.2 GetCapability:
     * tag 0x8001, TPM_RC_VALUE (0x84), not the TPM_RC_BAD_TAG/0x00C4 of TPM 2.0 Part 1 (checked with
     * a bare swtpm, no backend in between).
     */
    private static final int TPM_RC_VALUE = 0x84;

    @TempDir
    Path tmp;
    EmulatorFixture fx;

    @BeforeEach
    void setUp(XenstoredDaemon xsd) {
        fx = new EmulatorFixture(xsd, tmp);
    }

    @AfterEach
    void tearDown() throws Exception {
        fx.close();
    }

    @Test
    void firstCommandSentBeforeTheBackendConnectsIsAnswered() throws Exception {
        fx.frontend.probe(); // the backend has not even reached InitWait: its notification is lost
        assertEquals(XenbusState.INITIALISED, fx.frontend.state());
        XsPath fe = fx.frontend.frontendPath();
        assertEquals(Optional.of("1"), fx.feStore.read(fe.child("feature-protocol-v2")));
        assertEquals(Optional.of(Integer.toString(fx.frontend.ringRef())), fx.feStore.read(fe.child("ring-ref")));
        assertEquals(Optional.of(Integer.toString(fx.frontend.eventChannel())), fx.feStore.read(fe.child("event-channel")));
        assertFalse(fx.frontend.firstResponse().isDone(), "nobody can have answered yet");
        assertFalse(fx.frontend.isConnected());

        fx.stub.start(); // finds the SUBMIT by scanning after it binds
        byte[] first = fx.frontend.firstResponse().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertTrue(TpmPackets.isWellFormedResponse(first), "well-formed TPM response");
        assertEquals(TpmPackets.TPM2_ST_NO_SESSIONS, TpmPackets.tag(first));
        assertEquals(TPM_RC_VALUE, TpmPackets.responseCode(first), "libtpms refuses the TPM 1.2 command");
        assertTrue(fx.frontend.awaitConnected(WAIT));
        assertTrue(fx.awaitBackendState(XenbusState.CONNECTED));
        assertEquals(1, fx.stub.served());
    }

    @Test
    void getRandomWorksAndOversizedCommandsNeverLeaveTheGuest() throws Exception {
        fx.connected();
        byte[] response = fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), WAIT);
        assertEquals(0, TpmPackets.responseCode(response));
        assertEquals(8, TpmPackets.randomBytes(response).length);

        int servedBefore = fx.stub.served();
        assertThrows(IllegalArgumentException.class, () -> fx.frontend.transmit(new byte[4089], WAIT));
        assertThrows(IllegalArgumentException.class, () -> fx.frontend.transmit(new byte[9], WAIT));
        assertEquals(servedBefore, fx.stub.served(), "nothing reached the backend");
        assertEquals(0, TpmPackets.responseCode(fx.frontend.transmit(TpmPackets.tpm2GetRandom(32), WAIT)));
    }

    @Test
    void resumeBringsANewRingAndAFirstCommandAgain() throws Exception {
        fx.connected();
        int oldRef = fx.frontend.ringRef();
        int oldPort = fx.frontend.eventChannel();

        fx.frontend.resume();
        assertNotEquals(oldRef, fx.frontend.ringRef());
        assertNotEquals(oldPort, fx.frontend.eventChannel());
        assertEquals(Optional.of(Integer.toString(fx.frontend.ringRef())),
                fx.feStore.read(fx.frontend.frontendPath().child("ring-ref")));
        byte[] first = fx.frontend.firstResponse().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertTrue(TpmPackets.isWellFormedResponse(first));
        assertTrue(fx.frontend.awaitConnected(WAIT));
        assertEquals(0, TpmPackets.responseCode(fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), WAIT)));
        assertEquals(3, fx.stub.served(), "two first commands and one GetRandom");
    }

    @Test
    void backendClosingUnregistersTheDeviceAndCommandsFailFast() throws Exception {
        fx.connected();
        fx.stub.setServing(false); // keep the next command in flight
        CompletableFuture<byte[]> inFlight = transmitAsync(Duration.ofSeconds(60));
        assertTrue(fx.stub.awaitUnservedSubmit(WAIT), "the command reached the page");

        fx.toolstack.startRemoval(fx.domid, EmulatorFixture.DEVID);
        assertTrue(fx.frontend.awaitState(XenbusState.CLOSED, WAIT));
        assertFalse(fx.frontend.isConnected());
        ExecutionException failed = assertThrows(ExecutionException.class, () -> inFlight.get(10, TimeUnit.SECONDS));
        assertTrue(failed.getCause().getCause() instanceof TpmDeviceGoneException, failed.toString());

        long start = System.nanoTime();
        assertThrows(TpmDeviceGoneException.class, () -> fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), WAIT));
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1), "fails fast");
        assertTrue(fx.awaitBackendState(XenbusState.CLOSED), "the stub followed the frontend to Closed");
        // No re-probe by itself: a later backend state change is ignored until probe() is called.
        fx.beStore.write(fx.toolstack.backendPath(fx.domid, 0).child("state"), "4");
        assertThrows(TpmDeviceGoneException.class, () -> fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), WAIT));
        assertEquals(XenbusState.CLOSED, fx.frontend.state());
    }

    @Test
    void timeoutWritesCancelAndTheNextCommandWaitsForTheAcknowledgement() throws Exception {
        fx.connected();
        fx.stub.setServing(false);
        assertThrows(TpmTimeoutException.class,
                () -> fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), Duration.ofMillis(200)));
        int served = fx.stub.served();
        fx.stub.setServing(true); // the stub finds CANCEL with nothing running and answers IDLE
        byte[] response = fx.frontend.transmit(TpmPackets.tpm2GetRandom(16), WAIT);
        assertEquals(0, TpmPackets.responseCode(response));
        assertArrayEquals(new byte[] {0, 16}, java.util.Arrays.copyOfRange(response, 10, 12));
        assertEquals(served + 1, fx.stub.served(), "the cancelled command was never run");
    }

    @Test
    void idleInsteadOfFinishIsReportedAsCancelled() throws Exception {
        fx.connected();
        fx.stub.setServing(false);
        CompletableFuture<byte[]> inFlight = transmitAsync(Duration.ofSeconds(60));
        assertTrue(fx.stub.awaitUnservedSubmit(WAIT), "the command reached the page");
        fx.stub.answerIdle();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> inFlight.get(10, TimeUnit.SECONDS));
        assertTrue(failed.getCause().getCause() instanceof TpmCancelledException, failed.toString());
        fx.stub.setServing(true);
        assertEquals(0, TpmPackets.responseCode(fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), WAIT)));
    }

    private CompletableFuture<byte[]> transmitAsync(Duration timeout) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return fx.frontend.transmit(TpmPackets.tpm2GetRandom(8), timeout);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void backendWithoutProtocolV2IsFatal() throws Exception {
        fx.frontend.probe();
        // A backend that connects without advertising feature-protocol-v2 (e.g. a 2.6.18-era tpmback)
        fx.beStore.write(fx.toolstack.backendPath(fx.domid, 0).child("state"), "4");
        assertTrue(fx.frontend.awaitState(XenbusState.CLOSING, WAIT));
        XsPath error = XsPath.of("/local/domain").child(fx.domid).child("error").child("device").child("vtpm")
                .child(0).child("error");
        assertEquals(Optional.of("22 vTPM protocol 2 required"), fx.feStore.read(error));
    }
}
