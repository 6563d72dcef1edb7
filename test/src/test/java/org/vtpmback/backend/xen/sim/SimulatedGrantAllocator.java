package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.vtpmback.xen.XenException;

/**
 * Frontend side of simulated grants, for guest emulators: grants a zeroed page by creating
 * {@code grants/<domid>/<ref>}. References are unique per domain across processes because the file
 * is created with {@code CREATE_NEW}. Stateless and thread-safe.
 */
public final class SimulatedGrantAllocator {
    /** Linux keeps the first 8 grant references for itself (NR_RESERVED_ENTRIES); so do we. */
    static final int FIRST_REF = 8;
    private static final int MAX_REF = 1 << 20;

    private final SimulationDirectory directory;
    private final int domid;

    /** @param domid the domain doing the granting (the simulated guest) */
    public SimulatedGrantAllocator(SimulationDirectory directory, int domid) {
        this.directory = directory;
        this.domid = domid;
    }

    /** Grants a fresh zero-filled page; the caller owns it and revokes it. */
    public SimulatedGrant allocate() {
        try {
            Files.createDirectories(directory.grantsOf(domid));
            for (int ref = FIRST_REF; ref < MAX_REF; ref++) {
                Path file = directory.grant(domid, ref);
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    // Mapping past the end grows the file with zeros: a zeroed page, as Linux allocates.
                    // The reference is published only after this returns, so no mapper sees it short.
                    return new SimulatedGrant(domid, ref, file,
                            channel.map(FileChannel.MapMode.READ_WRITE, 0, SimulatedGrant.PAGE_SIZE));
                } catch (FileAlreadyExistsException taken) {
                    // another grant, maybe of another process, holds this ref; try the next
                }
            }
            throw new XenException("no free grant reference for domain " + domid + " in " + directory.root());
        } catch (IOException e) {
            throw new XenException("cannot grant a page for domain " + domid + ": " + e.getMessage(), e);
        }
    }
}
