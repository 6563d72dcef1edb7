package org.vtpmback.test.emulator;

import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.function.IntPredicate;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.xen.sim.SimulatedFrontendChannel;
import org.vtpmback.backend.xen.sim.SimulatedGrant;
import org.vtpmback.backend.xen.sim.SimulatedGrantAllocator;
import org.vtpmback.backend.xen.sim.SimulationDirectory;

/**
 * One incarnation of the guest's ring: the granted page and the unbound event channel port that
 * tpmfront_probe allocates (setup_ring) and tpmfront_remove frees (ring_free). A resume replaces the
 * whole object. Implements the two waits of xen-tpmfront's send/recv.
 *
 * <p>Thread-safety: {@link #close()} and {@link #isClosed()} from any thread; the exchange methods
 * under the emulator's one-command-at-a-time lock. A waiter notices {@link #close()} within one
 * poll interval and fails with {@link TpmDeviceGoneException}.
 */
final class GuestRing implements AutoCloseable {
    /**
     * Current kernels never set TPM_CHIP_FLAG_IRQ for xen-tpmfront, so wait_for_tpm_stat polls the
     * page every TPM_TIMEOUT (5 ms); we poll every 2 ms and also wake on notifications, so both a
     * backend that forgets to notify and one that only notifies are served.
     */
    static final Duration POLL = Duration.ofMillis(2);

    private final SimulatedGrant grant;
    private final SimulatedFrontendChannel channel;
    private final FrontendPage page;
    private volatile boolean closed;

    private GuestRing(SimulatedGrant grant, SimulatedFrontendChannel channel) {
        this.grant = grant;
        this.channel = channel;
        this.page = new FrontendPage(grant.page());
    }

    /** Grants a zeroed page and allocates an unbound port for {@code backendDomid}. */
    static GuestRing allocate(SimulationDirectory directory, int domid, int backendDomid) {
        SimulatedGrant grant = new SimulatedGrantAllocator(directory, domid).allocate();
        try {
            return new GuestRing(grant, SimulatedFrontendChannel.allocateUnbound(directory, domid, backendDomid));
        } catch (RuntimeException e) {
            grant.revoke();
            throw e;
        }
    }

    int ref() {
        return grant.ref();
    }

    int port() {
        return channel.port();
    }

    boolean isClosed() {
        return closed;
    }

    /** True while a backend has bound the port (for tests and diagnostics). */
    boolean isBound() {
        return channel.isBound();
    }

    /**
     * vtpm_send: wait until the TPM is idle (IDLE or FINISH), write the command, SUBMIT, notify.
     * The notification is lost if no backend has bound the port yet; that is what Linux does on its
     * first command, and the backend must find the SUBMIT by scanning after it binds.
     */
    void submit(byte[] command, int locality, long deadlineNanos) throws TpmFrontendException, InterruptedIOException {
        awaitState(FrontendPage::isIdle, deadlineNanos, "waiting for the previous command to finish");
        page.submit(command, locality);
        channel.notifyBackend();
    }

    /**
     * vtpm_send's second wait plus vtpm_recv: FINISH gives the response, IDLE means the backend
     * acknowledged a cancel (-ECANCELED).
     */
    byte[] awaitResponse(long deadlineNanos) throws TpmFrontendException, InterruptedIOException {
        int state = awaitState(FrontendPage::isIdle, deadlineNanos, "waiting for the response");
        if (state == PageState.IDLE.value()) {
            throw new TpmCancelledException("the backend answered IDLE instead of FINISH: operation canceled");
        }
        return page.response();
    }

    private int awaitState(IntPredicate wanted, long deadlineNanos, String what)
            throws TpmFrontendException, InterruptedIOException {
        while (true) {
            if (closed) {
                throw new TpmDeviceGoneException("vTPM device removed while " + what);
            }
            int state = page.state();
            if (wanted.test(state)) {
                return state;
            }
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                cancel();
                throw new TpmTimeoutException("timed out " + what + " (page state " + state + "); sent CANCEL");
            }
            try {
                channel.awaitNotification(Duration.ofNanos(Math.min(left, POLL.toNanos())));
            } catch (InterruptedException e) {
                // Linux: a signal during wait_for_tpm_stat also ends in vtpm_cancel + -ETIME.
                cancel();
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted " + what + "; sent CANCEL");
            }
        }
    }

    private void cancel() {
        page.cancel();
        channel.notifyBackend();
    }

    /** ring_free: end the grant and close the port (the backend sees its binding go away). Idempotent. */
    @Override
    public void close() {
        closed = true;
        channel.close();
        grant.revoke();
    }

    @Override
    public String toString() {
        return "GuestRing[ref " + ref() + ", port " + port() + (closed ? ", closed]" : "]");
    }
}
