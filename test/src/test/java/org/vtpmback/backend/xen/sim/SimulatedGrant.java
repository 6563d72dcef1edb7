package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A page the simulated guest granted, as the guest sees it. Owns the grant: {@link #revoke()} (or
 * {@link #close()}) deletes the grant file, so later {@code map} calls fail; a backend mapping made
 * before keeps working, as the file's memory stays alive while mapped.
 *
 * <p>Thread-safety: safe from any thread; revoke is idempotent.
 */
public final class SimulatedGrant implements AutoCloseable {
    static final int PAGE_SIZE = org.vtpmback.backend.xen.MappedGrant.PAGE_SIZE;

    private final int domid;
    private final int ref;
    private final Path file;
    private final MappedByteBuffer mapping;
    private final AtomicBoolean revoked = new AtomicBoolean();

    SimulatedGrant(int domid, int ref, Path file, MappedByteBuffer mapping) {
        this.domid = domid;
        this.ref = ref;
        this.file = file;
        this.mapping = mapping;
    }

    /** The granting domain. */
    public int domid() {
        return domid;
    }

    /** The grant reference to publish, e.g. as xenstore {@code ring-ref}. */
    public int ref() {
        return ref;
    }

    /** A new native-order view of the granted page (the guest's own memory). */
    public ByteBuffer page() {
        return mapping.duplicate().order(ByteOrder.nativeOrder());
    }

    /** Ends the grant. */
    public void revoke() {
        if (revoked.compareAndSet(false, true)) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot revoke grant " + ref + " of domain " + domid, e);
            }
        }
    }

    @Override
    public void close() {
        revoke();
    }

    @Override
    public String toString() {
        return "SimulatedGrant[domain " + domid + ", ref " + ref + (revoked.get() ? ", revoked]" : "]");
    }
}
