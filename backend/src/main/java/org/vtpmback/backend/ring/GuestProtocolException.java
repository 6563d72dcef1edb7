package org.vtpmback.backend.ring;

/**
 * The guest misbehaved: something it wrote, into its frontend directory in xenstore ({@code ring-ref},
 * {@code event-channel}, {@code feature-protocol-v2}) or onto the tpmif shared page (length, state,
 * locality, extra pages, the TPM header's size), that the protocol does not allow. The one exception
 * type for guest input: the message names the field and the value, e.g. {@code length 5000 exceeds
 * the 4088 bytes of a single page}, so the operator log says what the guest did.
 *
 * <p>Unchecked. The device layer catches it where the guest's input enters: a refused request is
 * answered with the TPM error {@link #refusal()} names ({@link TpmResponses#refusal}); a refused
 * xenstore key fails the device (error node, Closing). It never ends the daemon.
 */
public class GuestProtocolException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** How a refused request on the page is answered. */
    public enum Refusal {
        /** Not a request (a xenstore key, an unknown page state): nothing to answer. */
        NONE,
        /** The request's size or framing: TPM_RC_COMMAND_SIZE / TPM_BAD_PARAM_SIZE. */
        COMMAND_SIZE,
        /** A locality the guest may not use: TPM_RC_LOCALITY / TPM_BAD_LOCALITY. */
        LOCALITY
    }

    private final Refusal refusal;

    /** Guest input that is not a request: nothing to answer on the page. */
    public GuestProtocolException(String message) {
        this(message, Refusal.NONE);
    }

    public GuestProtocolException(String message, Refusal refusal) {
        super(message);
        this.refusal = refusal;
    }

    /** How the backend answers the refused request. */
    public Refusal refusal() {
        return refusal;
    }
}
