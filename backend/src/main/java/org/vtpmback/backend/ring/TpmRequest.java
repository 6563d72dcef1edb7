package org.vtpmback.backend.ring;

import java.util.Objects;

/**
 * One TPM command taken off the shared page.
 *
 * <p>{@code command} is a private copy made by {@link SharedPage#takeRequest()}, so later guest writes
 * to the page cannot change it. The record hands out that array without copying; the receiver owns it
 * and must not share it with the guest.
 *
 * @param locality the raw locality byte (0..255) exactly as the guest wrote it. It is not validated
 *     here: which localities a guest may use is device policy (Linux always sends 0; 4 is the DRTM
 *     locality that swtpm can reject), decided by the layer that forwards the command.
 * @param command the TPM command packet, big-endian TCG wire format, 10..4088 bytes, whose header
 *     paramSize equals its length
 */
public record TpmRequest(int locality, byte[] command) {
    public TpmRequest {
        Objects.requireNonNull(command, "command");
    }

    @Override
    public String toString() {
        return "TpmRequest[locality=" + locality + ", " + command.length + " bytes]";
    }
}
