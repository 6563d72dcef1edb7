package org.vtpmback.backend.device;

import java.util.Optional;
import org.vtpmback.backend.ring.GuestProtocolException;

/**
 * What the frontend publishes for the data path, parsed strictly: Linux writes {@code ring-ref} and
 * {@code event-channel} with %u and {@code feature-protocol-v2} = "1" in one transaction
 * (xen-tpmfront.c setup_ring). Anything else is refused with a message naming the key and value.
 *
 * @param grantRef the grant reference of the shared page (a u32)
 * @param port     the frontend's unbound event-channel port
 */
public record FrontendRing(int grantRef, int port) {
    /** Event-channel ports are below 2^17 with the FIFO ABI and 0 is never a valid port. */
    static final int MAX_PORT = (1 << 17) - 1;
    /**
     * Grant references are u32 on the wire, but the grant-table bindings refuse those of 2^31 and above
     * (GrantTable.checkRef); no guest's grant table is that large, so they are refused here, with the
     * other bad keys, instead of failing later as an unexpected exception.
     */
    static final long MAX_GRANT_REF = Integer.MAX_VALUE;

    /** Parses the three frontend keys as read from xenstore (absent = empty). */
    public static FrontendRing parse(Optional<String> ringRef, Optional<String> eventChannel, Optional<String> protocolV2) {
        if (!protocolV2.map("1"::equals).orElse(false)) {
            throw new GuestProtocolException("frontend lacks feature-protocol-v2 = 1 (found "
                    + quoted(protocolV2) + "); only the v2 shared-page protocol is supported");
        }
        long ref = number(VtpmKeys.RING_REF, ringRef, MAX_GRANT_REF);
        long port = number(VtpmKeys.EVENT_CHANNEL, eventChannel, MAX_PORT);
        if (port == 0) {
            throw new GuestProtocolException("event-channel 0 is not a valid port");
        }
        return new FrontendRing((int) ref, (int) port);
    }

    private static long number(String key, Optional<String> value, long max) {
        String v = value.orElseThrow(() -> new GuestProtocolException("frontend did not write " + key));
        if (!Decimal.isCanonical(v, 10) || Long.parseLong(v) > max) {
            throw new GuestProtocolException(key + " " + quoted(value) + " is not a decimal number in 0.." + max);
        }
        return Long.parseLong(v);
    }

    private static String quoted(Optional<String> value) {
        return value.map(v -> "'" + (v.length() > 40 ? v.substring(0, 40) + "..." : v) + "'").orElse("nothing");
    }

    /** The grant reference as the unsigned number the guest wrote. */
    public long grantRefUnsigned() {
        return Integer.toUnsignedLong(grantRef);
    }
}
