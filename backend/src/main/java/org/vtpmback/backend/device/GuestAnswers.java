package org.vtpmback.backend.device;

import java.util.function.Supplier;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.backend.ring.TpmResponses;

/**
 * Answer every command (security.md): whatever a command's handling returns or throws becomes an answer on
 * the page, since silence would hang the guest's driver until its own timeout. The one place that knows
 * this vTPM's failure and refusal answers, for both ways of the data path. Confined to the device's turn.
 */
final class GuestAnswers {
    private final System.Logger log;
    private final String device;
    private final BoundRing ring;
    private final ActiveInstance instance;

    /** @param log the data path's logger (its lines are the device's) */
    GuestAnswers(System.Logger log, String device, BoundRing ring, ActiveInstance instance) {
        this.log = log;
        this.device = device;
        this.ring = ring;
        this.instance = instance;
    }

    /** Runs a command's rest and answers what it returns, or a failure if it throws. */
    void answer(Supplier<byte[]> command) {
        byte[] response;
        try {
            response = command.get();
        } catch (RuntimeException e) {
            response = failedWith(e);
        }
        ring.respond(response);
    }

    /** The command's handling threw before anything else could answer it: a failure answers it. */
    void answerFailed(RuntimeException e) {
        ring.respond(failedWith(e));
    }

    /** TPM 2.0 {@code TPM_RC_FAILURE} or TPM 1.2 {@code TPM_FAIL}, as the vTPM's family speaks. */
    byte[] failure() {
        return TpmResponses.failure(isTpm2());
    }

    /** The answer to a request the page check refused. */
    byte[] refusal(GuestProtocolException e) {
        return TpmResponses.refusal(e.refusal(), isTpm2());
    }

    private byte[] failedWith(RuntimeException e) {
        log.log(System.Logger.Level.ERROR, device + ": command failed; answering with a TPM failure", e);
        return failure();
    }

    private boolean isTpm2() {
        return instance.engine().family() == TpmFamily.TPM2;
    }
}
