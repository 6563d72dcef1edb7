package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xen.DomainId;

/**
 * Why a domain went away, asked at teardown: while libxl removes a dying domain's devices the domain
 * still exists, paused, with its shutdown flag and reason set (reference 3.3). Thread-safe.
 */
public interface DomainStatus {
    /**
     * The domain's shutdown reason; empty if it has not shut down (still running, or destroyed by
     * {@code xl destroy} without shutting down, or already gone).
     */
    Optional<ShutdownReason> shutdownReason(DomainId domid);
}
