package org.vtpmback.xen;

import java.nio.ByteBuffer;
import java.util.OptionalInt;
import java.util.UUID;

/**
 * A snapshot of one domain from {@code xc_domain_getinfolist}: already stale when returned, so use it
 * for decisions that tolerate a race (the domain may die right after). Immutable and thread-safe.
 *
 * @param domid the domain id
 * @param flags the raw {@code XEN_DOMINF_*} flags, shutdown code in bits 16..23
 * @param handle the domain's UUID ({@code xen_domain_handle_t}, set by the toolstack)
 * @param totPages pages currently allocated to the domain
 * @param cpuTimeNanos CPU time used so far, in nanoseconds
 * @param onlineVcpus online virtual CPUs
 */
public record DomainInfo(int domid, int flags, UUID handle, long totPages, long cpuTimeNanos, int onlineVcpus) {
    // XEN_DOMINF_* bits of xen/domctl.h.
    static final int DYING = 1;
    static final int HVM_GUEST = 1 << 1;
    static final int SHUTDOWN = 1 << 2;
    static final int PAUSED = 1 << 3;
    static final int BLOCKED = 1 << 4;
    static final int RUNNING = 1 << 5;
    static final int SHUTDOWN_SHIFT = 16;
    static final int SHUTDOWN_MASK = 0xff;

    /** Being destroyed: its devices are going away. */
    public boolean dying() {
        return (flags & DYING) != 0;
    }

    /** Shut down (see {@link #shutdownReason()}), possibly not yet destroyed. */
    public boolean shutdown() {
        return (flags & SHUTDOWN) != 0;
    }

    public boolean paused() {
        return (flags & PAUSED) != 0;
    }

    /** Blocked waiting for an event. */
    public boolean blocked() {
        return (flags & BLOCKED) != 0;
    }

    /** Currently running on a physical CPU. */
    public boolean running() {
        return (flags & RUNNING) != 0;
    }

    /** An HVM (or PVH) guest rather than PV. */
    public boolean hvm() {
        return (flags & HVM_GUEST) != 0;
    }

    /** The raw {@code SHUTDOWN_*} code, present only when {@link #shutdown()} is set. */
    public OptionalInt shutdownCode() {
        // The code bits are meaningless unless the shutdown bit is set.
        return shutdown() ? OptionalInt.of((flags >>> SHUTDOWN_SHIFT) & SHUTDOWN_MASK) : OptionalInt.empty();
    }

    /** The shutdown reason; {@link ShutdownReason#UNKNOWN} when not shut down or the code is new. */
    public ShutdownReason shutdownReason() {
        OptionalInt code = shutdownCode();
        return code.isPresent() ? ShutdownReason.of(code.getAsInt()) : ShutdownReason.UNKNOWN;
    }

    /** The UUID from the 16 bytes of {@code xen_domain_handle_t} (big-endian, as libxl writes it). */
    static UUID uuidOf(byte[] handle) {
        ByteBuffer b = ByteBuffer.wrap(handle); // big-endian by default: RFC 4122 byte order
        return new UUID(b.getLong(), b.getLong());
    }
}
