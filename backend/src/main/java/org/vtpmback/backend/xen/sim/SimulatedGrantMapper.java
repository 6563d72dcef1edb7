package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.backend.xen.GrantMapper;
import org.vtpmback.backend.xen.MappedGrant;
import org.vtpmback.xen.XenException;

/**
 * Backend side of simulated grants: maps {@code grants/<domid>/<ref>} with
 * {@code FileChannel.map(READ_WRITE)}, so backend and frontend share the same physical pages, as
 * with gntdev, even across processes. Stateless and thread-safe.
 */
public final class SimulatedGrantMapper implements GrantMapper {
    private final SimulationDirectory directory;

    public SimulatedGrantMapper(SimulationDirectory directory) {
        this.directory = directory;
    }

    @Override
    public MappedGrant map(int domid, int grantRef) {
        Path file = directory.grant(domid, grantRef);
        String what = "grant ref " + Integer.toUnsignedString(grantRef) + " of domain " + domid;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = channel.size();
            if (size != MappedGrant.PAGE_SIZE) {
                throw new XenException("cannot map " + what + ": " + file + " has " + size
                        + " bytes, a grant has " + MappedGrant.PAGE_SIZE);
            }
            // The mapping outlives the channel; closing the channel here leaks no descriptor.
            return new FileGrant(what, channel.map(FileChannel.MapMode.READ_WRITE, 0, MappedGrant.PAGE_SIZE));
        } catch (NoSuchFileException e) {
            throw new XenException("cannot map " + what + ": not granted (no " + file + ")", e);
        } catch (IOException e) {
            throw new XenException("cannot map " + what + " (" + file + "): " + e.getMessage(), e);
        }
    }

    /**
     * A mapped grant file. Java 17 has no public way to unmap a {@link MappedByteBuffer}; close()
     * makes the object unusable and the garbage collector releases the mapping. Unlike gntdev, a
     * stale view therefore does not fault after close; the simulation cannot catch that misuse.
     */
    static final class FileGrant implements MappedGrant {
        private final String what;
        private final MappedByteBuffer mapping;
        private final AtomicBoolean closed = new AtomicBoolean();

        FileGrant(String what, MappedByteBuffer mapping) {
            this.what = what;
            this.mapping = mapping;
        }

        @Override
        public ByteBuffer page() {
            if (closed.get()) {
                throw new IllegalStateException(what + " is unmapped");
            }
            return mapping.duplicate().order(ByteOrder.nativeOrder());
        }

        @Override
        public void close() {
            closed.set(true);
        }

        @Override
        public String toString() {
            return "FileGrant[" + what + (closed.get() ? ", closed]" : "]");
        }
    }
}
