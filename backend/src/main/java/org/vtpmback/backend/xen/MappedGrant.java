package org.vtpmback.backend.xen;

import java.nio.ByteBuffer;

/**
 * One granted page mapped into this process. Owns the mapping: {@link #close()} unmaps it.
 *
 * <p>Thread-safety: {@link #page()} and {@link #close()} may be called from any thread, but the
 * caller must not close while another thread still uses the buffer (on real Xen that access would
 * fault). {@code close()} is idempotent; {@code page()} after close throws
 * {@link IllegalStateException}.
 */
public interface MappedGrant extends AutoCloseable {
    /** Size of a grant: one Xen page (XC_PAGE_SIZE). */
    int PAGE_SIZE = 4096;

    /**
     * A writable view of exactly {@link #PAGE_SIZE} bytes in native byte order. Each call returns a
     * new view (own position and limit) of the same memory, which the remote domain may change at
     * any time.
     */
    ByteBuffer page();

    /** Unmaps the page. */
    @Override
    void close();
}
