package org.vtpmback.backend.xen.sim;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The folder through which the simulated Xen sides meet, possibly from different processes:
 *
 * <pre>
 * grants/&lt;domid&gt;/&lt;ref&gt;   4096-byte file: a page domain &lt;domid&gt; granted; both sides mmap it
 * ports/&lt;domid&gt;/&lt;port&gt;  UNIX stream socket: an event channel port domain &lt;domid&gt; allocated
 * faults/evtchn-reader-oom  test-only: the backend's event-channel reader throws OutOfMemoryError once
 * </pre>
 *
 * Immutable and thread-safe.
 *
 * @param root the simulation folder, e.g. {@link #DEFAULT}
 */
public record SimulationDirectory(Path root) {
    /** Where daemon and emulators meet unless configured otherwise. */
    public static final SimulationDirectory DEFAULT = new SimulationDirectory(Path.of("/tmp/vtpmback-sim"));

    public SimulationDirectory {
        Objects.requireNonNull(root, "root");
    }

    Path grantsOf(int domid) {
        return root.resolve("grants").resolve(Integer.toString(domid));
    }

    Path grant(int domid, int ref) {
        return grantsOf(domid).resolve(Integer.toUnsignedString(ref));
    }

    Path portsOf(int domid) {
        return root.resolve("ports").resolve(Integer.toString(domid));
    }

    Path port(int domid, int port) {
        return portsOf(domid).resolve(Integer.toUnsignedString(port));
    }

    /**
     * A test's fault request: while this file exists, the next event the backend's simulated event-channel
     * reader sees makes it remove the file and fail with an {@link OutOfMemoryError}. Only the simulation
     * reads it; the Xen host path has no such seam.
     */
    public Path readerFault() {
        return root.resolve("faults").resolve("evtchn-reader-oom");
    }
}
