package org.vtpmback.backend.ring;

import java.util.Objects;

/**
 * One TPM command taken off the shared page, checked at the guest boundary: whoever receives a
 * {@code TpmRequest} (the engine) can trust its locality and size.
 *
 * <p>{@code command} is a private copy made by {@link SharedPage#takeRequest()}, so later guest writes
 * to the page cannot change it. The record hands out that array without copying; the receiver owns it
 * and must not share it with the guest.
 *
 * @param locality 0..{@value #MAX_GUEST_LOCALITY}: Linux always sends 0; 4 is the CPU's (DRTM), never a
 *     guest's
 * @param command the TPM command packet, big-endian TCG wire format,
 *     {@value TpmResponses#HEADER_SIZE}..{@value SharedPage#MAX_PAYLOAD} bytes, whose header paramSize
 *     equals its length
 */
public record TpmRequest(int locality, byte[] command) {
    /** The highest locality a guest may use. */
    public static final int MAX_GUEST_LOCALITY = 3;

    public TpmRequest {
        Objects.requireNonNull(command, "command");
        if (locality < 0 || locality > MAX_GUEST_LOCALITY) {
            throw new IllegalArgumentException("locality " + locality);
        }
        if (command.length < TpmResponses.HEADER_SIZE || command.length > SharedPage.MAX_PAYLOAD) {
            throw new IllegalArgumentException(command.length + "-byte command");
        }
    }

    @Override
    public String toString() {
        return "TpmRequest[locality=" + locality + ", " + command.length + " bytes]";
    }
}
