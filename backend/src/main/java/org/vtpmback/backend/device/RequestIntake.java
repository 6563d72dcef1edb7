package org.vtpmback.backend.device;

import java.nio.ByteBuffer;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.ring.TpmRequest;

/**
 * Where a guest's request crosses into the daemon, for both ways of the data path: one look at the page per
 * wake-up, the request copied off it before it is checked (security.md: read shared memory once, copy,
 * validate; XSA-155). A well-formed request lands in this ring's buffer; anything else (no request, a
 * cancel, a refused request) is settled here. Confined to the device's turn.
 */
final class RequestIntake {
    private final System.Logger log;
    private final String device;
    private final BoundRing ring;
    private final GuestAnswers answers;
    /** This ring's request, copied off the page: reused by every command, so none allocates. */
    private final ByteBuffer request = ByteBuffer.allocateDirect(SharedPage.MAX_PAYLOAD);

    /** @param log the data path's logger (its lines are the device's) */
    RequestIntake(System.Logger log, String device, BoundRing ring, GuestAnswers answers) {
        this.log = log;
        this.device = device;
        this.ring = ring;
        this.answers = answers;
    }

    /**
     * Reads the page once: for a well-formed request, copies it into {@link #request()} and returns its
     * locality; anything else (no request, a cancel, a refused request) is dealt with here, and -1 returned.
     */
    int take() {
        SharedPage page = ring.page();
        PageState state;
        try {
            state = page.state();
        } catch (GuestProtocolException e) {
            // A state byte tpmif.h does not define: ignored like a spurious wake-up, the page left alone.
            log.log(System.Logger.Level.WARNING, "{0}: ignoring the shared page: {1}", device, e.getMessage());
            return -1;
        }
        if (state == PageState.CANCEL) {
            // Nothing runs between two looks at the page, so a cancel always finds us idle.
            log.log(System.Logger.Level.DEBUG, "{0}: guest cancelled; acknowledged with IDLE", device);
            page.acknowledgeCancel();
            ring.notifyGuest();
            return -1;
        }
        if (state != PageState.SUBMIT) {
            return -1; // IDLE, FINISH: a spurious wake-up, nothing to do
        }
        try {
            return page.takeRequest(request);
        } catch (GuestProtocolException e) {
            // The one check of what the guest put on the page: what gets past it, the engine trusts.
            log.log(System.Logger.Level.WARNING, "{0}: refused request: {1}", device, e.getMessage());
            ring.respond(answers.refusal(e));
            return -1;
        }
    }

    /** The last request taken (position to limit), until the next {@link #take()}: the command swtpm is sent. */
    ByteBuffer request() {
        return request;
    }

    /** A copy of the last request taken, for a command that continues on the device's executor. */
    TpmRequest copy(int locality) {
        byte[] command = new byte[request.remaining()];
        request.get(request.position(), command);
        return new TpmRequest(locality, command);
    }
}
