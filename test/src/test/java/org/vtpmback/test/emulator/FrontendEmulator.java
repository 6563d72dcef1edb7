package org.vtpmback.test.emulator;

import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;
import org.vtpmback.backend.device.VtpmKeys;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * Emulates one Linux {@code xen-tpmfront} device (drivers/char/tpm/xen-tpmfront.c) on the simulated
 * Xen of {@link SimulationDirectory} and a real xenstored: probe publishes a fresh ring and
 * immediately sends a TPM command, backend state changes connect or unregister the device, resume
 * replaces the ring, and {@link #transmit} is the {@code /dev/tpm0} write+read of one command.
 *
 * <p>Xenstore writes go through the given store as whatever domain it is connected as (dom0 in the
 * tests); guest permissions are tested elsewhere.
 *
 * <p>Threads: xenbus work (probe, watch events, resume, close) runs on one thread per emulator
 * ({@link TpmfrontDriver}); {@link #transmit} runs on the caller's thread, one command at a time.
 * All public methods are thread-safe. The caller owns the emulator and closes it.
 */
public final class FrontendEmulator implements AutoCloseable {
    /** Largest command: 4096 minus the 8-byte page header (xen-tpmfront: -EINVAL beyond it). */
    public static final int MAX_COMMAND_SIZE = FrontendPage.MAX_PAYLOAD;
    /** How long the probe's first command may take (Linux: timeout_c, then the ordinal's duration). */
    public static final Duration PROBE_COMMAND_TIMEOUT = Duration.ofSeconds(60);
    private static final int TPM_HEADER_SIZE = 10;

    private final TpmfrontDriver driver;
    private final NodeWatcher stateWatcher;
    private final ReentrantLock commandLock = new ReentrantLock(true);
    private volatile int locality;
    private volatile byte[] probeCommand = TpmPackets.linuxGetTimeoutsCommand();

    /**
     * @param xs           the store to write the frontend nodes through (not closed by the emulator)
     * @param directory    the simulation folder shared with the backend
     * @param domid        the emulated guest
     * @param devid        the vtpm device number
     * @param backendDomid the domain the port is allocated for (and the default backend path's)
     */
    public FrontendEmulator(XenStore xs, SimulationDirectory directory, int domid, int devid, int backendDomid) {
        Objects.requireNonNull(xs, "xs");
        Objects.requireNonNull(directory, "directory");
        this.driver = new TpmfrontDriver(xs, directory, domid, devid, backendDomid, commandLock, () -> locality);
        this.stateWatcher = new NodeWatcher(xs, driver.node().path().child(VtpmKeys.STATE));
    }

    /** {@code /local/domain/<fe>/device/vtpm/<devid>}. */
    public XsPath frontendPath() {
        return driver.node().path();
    }

    /** The backend directory: the frontend's {@code backend} key at probe time, or the standard path. */
    public XsPath backendPath() {
        return driver.backendPath();
    }

    /** The frontend {@code state} node as xenstore has it (UNKNOWN if missing). */
    public XenbusState state() {
        return driver.node().readState(frontendPath().child(VtpmKeys.STATE));
    }

    /** Whether the chip is registered and the frontend state is Connected. */
    public boolean isConnected() {
        return driver.ring() != null && state() == XenbusState.CONNECTED;
    }

    public boolean awaitConnected(Duration timeout) throws InterruptedException {
        return awaitState(XenbusState.CONNECTED, timeout);
    }

    /** Waits (woken by a watch) until the frontend {@code state} node reads {@code wanted}; false on timeout. */
    public boolean awaitState(XenbusState wanted, Duration timeout) throws InterruptedException {
        return stateWatcher.await(wanted, timeout);
    }

    /** Locality byte for later commands (0..255, unchecked like the page byte); Linux always uses 0. */
    public void setLocality(int locality) {
        if (locality < 0 || locality > 255) {
            throw new IllegalArgumentException("locality " + locality + " does not fit the page's byte");
        }
        this.locality = locality;
    }

    /** The command each probe sends at once; default Linux's TPM 1.2 GetCapability (TIS timeouts). */
    public void setProbeCommand(byte[] command) {
        this.probeCommand = command.clone();
    }

    /** The response to the latest probe's first command; completes exceptionally if it failed. */
    /** Where the last probe's (or resume's) time went. */
    public ProbeTimes probeTimes() {
        return driver.probeTimes();
    }

    public CompletableFuture<byte[]> firstResponse() {
        return driver.firstResponse();
    }

    /** The grant reference of the current ring. */
    public int ringRef() throws TpmDeviceGoneException {
        return currentRing().ref();
    }

    /** The event channel port of the current ring. */
    public int eventChannel() throws TpmDeviceGoneException {
        return currentRing().port();
    }

    /**
     * tpmfront_probe: new zeroed page and unbound port; ring-ref, event-channel and
     * feature-protocol-v2 in one transaction (setup_ring), then Initialised (3) right after the
     * commit; then at once the first TPM command (tpm_get_timeouts), before the backend is
     * necessarily connected. Returns once that command is on the page; its response arrives in
     * {@link #firstResponse()}. Then, like xenbus_dev_probe's watch_otherend, the backend state is
     * watched.
     *
     * @throws IllegalStateException if already probed (use {@link #resume()}) or closed
     */
    public void probe() throws InterruptedException {
        driver.probe(probeCommand.clone());
    }

    /**
     * tpmfront_resume after save/restore or migration: tpmfront_remove (drop page and port, without
     * writing Closed), then tpmfront_probe with a new page and a new port (state 3, first command at
     * once). Ref and port are guaranteed to differ from the old ones.
     */
    public void resume() throws InterruptedException {
        driver.resume(probeCommand.clone());
    }

    /**
     * One TPM command, as a write and a read on {@code /dev/tpm0}: at most one in flight.
     *
     * @throws IllegalArgumentException for fewer than 10 or more than {@value #MAX_COMMAND_SIZE}
     *     bytes (xen-tpmfront and the TPM core: -EINVAL); nothing reaches the page
     * @throws TpmDeviceGoneException if the chip is not registered, or goes away meanwhile
     * @throws TpmTimeoutException after writing CANCEL, if the page stays busy or no response comes
     * @throws TpmCancelledException if the backend answers IDLE
     * @throws TpmFrontendException if the response header is inconsistent (TPM core: -EFAULT)
     */
    public byte[] transmit(byte[] command, Duration timeout) throws TpmFrontendException, InterruptedIOException {
        if (command.length < TPM_HEADER_SIZE || command.length > MAX_COMMAND_SIZE) {
            throw new IllegalArgumentException("a command of " + command.length + " bytes does not fit: "
                    + TPM_HEADER_SIZE + ".." + MAX_COMMAND_SIZE + " (-EINVAL)");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            commandLock.lockInterruptibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the previous command");
        }
        try {
            GuestRing r = currentRing();
            r.submit(command, locality, deadline);
            return checkHeader(r.awaitResponse(deadline));
        } finally {
            commandLock.unlock();
        }
    }

    /** Module unload (xenbus_dev_remove): unregister the chip, switch to Closed, free the ring. Idempotent. */
    @Override
    public void close() {
        try {
            driver.close();
        } finally {
            stateWatcher.close();
        }
    }

    private GuestRing currentRing() throws TpmDeviceGoneException {
        GuestRing r = driver.ring();
        if (r == null || r.isClosed()) {
            throw new TpmDeviceGoneException("no vTPM: " + frontendPath() + " is not probed or was unregistered");
        }
        return r;
    }

    /** tpm_try_transmit: a response shorter than a header, or whose size field lies, is -EFAULT. */
    private static byte[] checkHeader(byte[] response) throws TpmFrontendException {
        if (response.length < TPM_HEADER_SIZE || ByteBuffer.wrap(response).getInt(2) != response.length) {
            throw new TpmFrontendException("malformed TPM response of " + response.length + " bytes (-EFAULT)");
        }
        return response;
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Override
    public String toString() {
        GuestRing r = driver.ring();
        return "FrontendEmulator[" + frontendPath() + ", " + (r == null ? "unregistered" : r) + "]";
    }
}
