package org.vtpmback.xen;

import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Pages of another domain mapped into this process by {@link GrantTable}. Owns one native mapping;
 * {@link #close()} unmaps it.
 *
 * <p>The memory is shared with the guest, which can change it at any time: copy data out before
 * validating it. A {@link ByteBuffer} from {@link #buffer()} must not be touched after close (the
 * JVM would fault on unmapped memory); close only once no thread still uses one.
 *
 * <p>Thread-safety: {@link #close()} is idempotent and thread-safe; other methods throw
 * {@link IllegalStateException} after close. Plain loads and stores through the buffer have no
 * ordering: callers add fences around the protocol's state changes.
 */
public final class GrantMapping implements AutoCloseable {
    private final GrantTable table;
    private final Pointer start;
    private final int pageCount;
    private final String subject;
    private final ByteBuffer view;
    private final AtomicBoolean closed = new AtomicBoolean();

    GrantMapping(GrantTable table, Pointer start, int pageCount, String subject) {
        this.table = table;
        this.start = start;
        this.pageCount = pageCount;
        this.subject = subject;
        this.view = start.getByteBuffer(0, (long) pageCount * GrantTable.PAGE_SIZE);
    }

    /**
     * A fresh native-order view of all {@code pageCount() * 4096} bytes (position 0, own position and
     * limit, same memory). Valid only until {@link #close()}.
     */
    public ByteBuffer buffer() {
        ensureOpen();
        // duplicate() resets the byte order to big-endian, so set it on every copy.
        return view.duplicate().order(ByteOrder.nativeOrder());
    }

    /** How many 4 KiB pages are mapped. */
    public int pageCount() {
        return pageCount;
    }

    /** Unmaps the pages. Idempotent; a no-op if the table was closed first (that unmapped them). */
    @Override
    public void close() {
        if (markClosed()) {
            table.release(this);
        }
    }

    /** True for exactly one caller: the one that gets to unmap. */
    boolean markClosed() {
        return closed.compareAndSet(false, true);
    }

    Pointer start() {
        return start;
    }

    String subject() {
        return subject;
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("grant mapping " + subject + " is closed");
        }
    }

    @Override
    public String toString() {
        return "GrantMapping[" + subject + ", " + pageCount + " page(s)" + (closed.get() ? ", closed" : "") + "]";
    }
}
