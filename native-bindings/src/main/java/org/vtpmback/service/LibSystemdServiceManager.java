package org.vtpmback.service;

import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.jna.sd.SystemdLib;

/** {@link ServiceManager} through libsystemd's sd_notify(3) and sd_watchdog_enabled(3). */
final class LibSystemdServiceManager implements ServiceManager {
    private static final System.Logger LOG = System.getLogger(LibSystemdServiceManager.class.getName());

    private final SystemdLib lib;

    private LibSystemdServiceManager(SystemdLib lib) {
        this.lib = lib;
    }

    /** Loads libsystemd now, so that a host without it fails at start, not at the first notification. */
    static LibSystemdServiceManager open() {
        return new LibSystemdServiceManager(SystemdLib.LIBRARY.get());
    }

    @Override
    public void notify(String state) {
        // unset_environment = 0: the watchdog pinger and later notifications need NOTIFY_SOCKET again
        int rc = lib.sd_notify(0, state);
        if (rc < 0) {
            LOG.log(System.Logger.Level.WARNING, "sd_notify({0}) failed: {1}", state.replace('\n', ' '), Errno.describe(-rc));
        }
    }

    @Override
    public Optional<Duration> watchdogTimeout() {
        LongByReference usec = new LongByReference();
        int rc = lib.sd_watchdog_enabled(0, usec);
        if (rc < 0) {
            LOG.log(System.Logger.Level.WARNING, "sd_watchdog_enabled failed: {0}; sending no keep-alives", Errno.describe(-rc));
            return Optional.empty();
        }
        return rc == 0 ? Optional.empty() : Optional.of(Duration.ofNanos(Math.multiplyExact(usec.getValue(), 1000L)));
    }
}
