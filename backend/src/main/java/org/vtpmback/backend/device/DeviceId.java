package org.vtpmback.backend.device;

/**
 * A vtpm device as the toolstack names it: {@code backend/vtpm/<frontendDomid>/<devid>}. Only for
 * routing and logs; the vTPM's state is keyed by its uuid, never by this (domids change on reboot,
 * restore and migration).
 */
public record DeviceId(int frontendDomid, int devid) {
    /** Domain ids from DOMID_FIRST_RESERVED (0x7FF0) up are not guests. */
    public static final int MAX_DOMID = org.vtpmback.xen.DomainId.MAX;

    public DeviceId {
        if (frontendDomid < 1 || frontendDomid > MAX_DOMID || devid < 0) {
            throw new IllegalArgumentException("not a guest vtpm device: domid " + frontendDomid + " devid " + devid);
        }
    }

    /** Parses the two path elements below {@code backend/vtpm}; empty for anything else. */
    public static java.util.Optional<DeviceId> parse(String domid, String devid) {
        if (!Decimal.isCanonical(domid, 5) || !Decimal.isCanonical(devid, 9)) {
            return java.util.Optional.empty();
        }
        int d = Integer.parseInt(domid);
        int v = Integer.parseInt(devid);
        return org.vtpmback.xen.DomainId.guest(d).map(g -> new DeviceId(g.value(), v));
    }

    @Override
    public String toString() {
        return "domain " + frontendDomid + " vtpm " + devid;
    }
}
