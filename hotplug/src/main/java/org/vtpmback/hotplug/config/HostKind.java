package org.vtpmback.hotplug.config;

import java.util.Locale;

/** Which Xen the daemon talks to: the real one, or the file-based simulation used by tests and demos. */
public enum HostKind {
    /** Real Xen: grants through libxengnttab, event channels through libxenevtchn (dom0 or a driver domain). */
    XEN,
    /** {@code org.vtpmback.backend.xen.sim}: grants and ports are files under {@code simulation-dir}. */
    SIMULATED;

    /** The spelling used in the configuration file. */
    public String configValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
