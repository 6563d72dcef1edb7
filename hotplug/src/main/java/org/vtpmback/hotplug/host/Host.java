package org.vtpmback.hotplug.host;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import org.vtpmback.backend.device.DeviceResources;
import org.vtpmback.backend.instance.VtpmInstances;
import org.vtpmback.backend.xen.EventChannels;
import org.vtpmback.backend.xen.GrantMapper;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.backend.xen.sim.SimulatedGrantMapper;
import org.vtpmback.backend.xen.sim.SimulatedDomainStatus;
import org.vtpmback.backend.xen.XenEventChannels;
import org.vtpmback.backend.xen.XenGrantMapper;
import org.vtpmback.backend.instance.DomainStatus;
import org.vtpmback.backend.instance.XenDomainStatus;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * The Xen the daemon runs on: the grant mapper and the event channels that {@link DeviceResources}
 * needs, for real Xen ({@code host=xen}) or the simulation ({@code host=simulated}). Owns what it
 * opened; {@link #close()} releases it (event channels, and the grant mapper if it is closeable).
 */
public final class Host implements AutoCloseable {
    private final String description;
    private final GrantMapper grants;
    private final EventChannels eventChannels;
    private final DomainStatus domains;

    /**
     * @param description for logs and {@code vtpmback check}, e.g. {@code xen} or {@code simulated (/tmp/x)}
     * @param grants the grant mapper; closed with the host if it is {@link AutoCloseable}
     * @param eventChannels the event channels; closed with the host
     */
    public Host(String description, GrantMapper grants, EventChannels eventChannels, DomainStatus domains) {
        this.description = Objects.requireNonNull(description);
        this.grants = Objects.requireNonNull(grants);
        this.eventChannels = Objects.requireNonNull(eventChannels);
        this.domains = Objects.requireNonNull(domains);
    }

    /** The host {@code config} asks for. */
    public static Host open(VtpmbackConfig config) {
        switch (config.host()) {
            case SIMULATED:
                return simulated(config.simulationDir(), config.backendDomid());
            case XEN:
                return xen(config.backendDomid());
            default:
                throw new AssertionError(config.host());
        }
    }

    /**
     * The simulated Xen in {@code dir} (created if missing), playing backend domain {@code backendDomid}:
     * frontend emulators grant pages and allocate ports as files there.
     */
    public static Host simulated(Path dir, int backendDomid) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the simulation directory " + dir + ": " + e.getMessage(), e);
        }
        SimulationDirectory sim = new SimulationDirectory(dir);
        return new Host("simulated (" + dir + ")", new SimulatedGrantMapper(sim),
                new SimulatedEventChannels(sim, backendDomid), new SimulatedDomainStatus(sim));
    }

    /**
     * Real Xen: grants through {@code /dev/xen/gntdev}, event channels through {@code /dev/xen/evtchn},
     * domain fates from the hypervisor (libxenctrl). Throws a clear error where any of them is missing.
     */
    public static Host xen(int backendDomid) {
        XenGrantMapper grants = XenGrantMapper.open();
        XenEventChannels channels = null;
        try {
            channels = XenEventChannels.open();
            return new Host("xen (backend domain " + backendDomid + ")", grants, channels, XenDomainStatus.open());
        } catch (RuntimeException e) {
            if (channels != null) {
                channels.close();
            }
            grants.close();
            throw e;
        }
    }

    /** The resources devices share: this host's grants and event channels, and {@code instances}. */
    public DeviceResources resources(VtpmInstances instances) {
        return new DeviceResources(grants, eventChannels, instances);
    }

    public GrantMapper grants() {
        return grants;
    }

    public EventChannels eventChannels() {
        return eventChannels;
    }

    /** Why domains went away, asked when a vTPM is saved at teardown. */
    public DomainStatus domains() {
        return domains;
    }

    public String description() {
        return description;
    }

    /** Unbinds every port and releases the grant mapper. Idempotent if the parts are. */
    @Override
    public void close() {
        try {
            eventChannels.close();
        } finally {
            closeIfCloseable(domains);
            closeIfCloseable(grants);
        }
    }

    private static void closeIfCloseable(Object part) {
        if (part instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                System.getLogger(Host.class.getName()).log(System.Logger.Level.WARNING, "closing " + part + " failed", e);
            }
        }
    }

    @Override
    public String toString() {
        return description;
    }
}
