package org.vtpmback.backend.xen;

/**
 * Maps pages another domain granted to us ({@code xengnttab_map_grant_ref} on real Xen, a shared
 * file in the simulation). The device layer sees grants only through this interface, so real Xen
 * and the simulation are interchangeable.
 *
 * <p>Thread-safety: implementations are safe to call from any thread.
 */
public interface GrantMapper {
    /**
     * Maps one granted page read-write.
     *
     * @param domid the granting (frontend) domain
     * @param grantRef the grant reference it published, e.g. in xenstore {@code ring-ref}
     * @return the mapping; the caller owns it and closes it
     * @throws org.vtpmback.xen.XenException if the page cannot be mapped (not granted, wrong domain,
     *     revoked); the message names the domain and the reference
     */
    MappedGrant map(int domid, int grantRef);
}
