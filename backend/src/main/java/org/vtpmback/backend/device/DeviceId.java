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
        if (!Decimal.isCanonical(devid, 9)) {
            return java.util.Optional.empty();
        }
        int v = Integer.parseInt(devid);
        return parseDomain(domid).map(g -> new DeviceId(g.value(), v));
    }

    /** Parses the path element below {@code backend/vtpm}: a guest's domain id; empty for anything else. */
    public static java.util.Optional<org.vtpmback.xen.DomainId> parseDomain(String domid) {
        return Decimal.isCanonical(domid, 5) ? org.vtpmback.xen.DomainId.guest(Integer.parseInt(domid)) : java.util.Optional.empty();
    }

    public org.vtpmback.xen.DomainId domain() {
        return new org.vtpmback.xen.DomainId(frontendDomid);
    }

    @Override
    public String toString() {
        return "domain " + frontendDomid + " vtpm " + devid;
    }
}
