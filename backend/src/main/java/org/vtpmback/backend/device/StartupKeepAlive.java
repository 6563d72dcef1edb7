package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.vtpmback.service.ServiceManager;

/**
 * Keep-alives for systemd's watchdog while a reload's successor takes over. A fresh start needs none:
 * systemd arms the watchdog only once the service is up. A successor becomes the main process of a
 * service that is up ({@code MAINPID=} from the daemon it replaces, with one last keep-alive), so the
 * watchdog runs from that moment, while the successor still opens the state store, takes the swtpm
 * processes over and scans xenstore: 30 s and more under load or emulation, which the watchdog alone
 * would punish with a kill and a crash restart (seen on real Xen under QEMU, 2026-12-03). So the successor
 * pings from the hand-over until {@link DaemonWatchdog}, which judges a running daemon, starts; and only
 * for {@code bound}, so that a take-over that hangs is still killed, as a start that hangs would be.
 */
public final class StartupKeepAlive implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(StartupKeepAlive.class.getName());

    private final ScheduledExecutorService timer;

    private StartupKeepAlive(ServiceManager manager, Duration timeout, Duration bound) {
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vtpm-startup-keepalive");
            t.setDaemon(true);
            return t;
        });
        long end = System.nanoTime() + bound.toNanos();
        timer.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - end < 0) {
                manager.watchdogPing();
            } else {
                LOG.log(System.Logger.Level.ERROR, "watchdog: the take-over is not done after {0} s; no more keep-alives,"
                        + " systemd will kill and restart the daemon", Long.toString(bound.toSeconds()));
                timer.shutdown();
            }
        }, 0, timeout.dividedBy(2).toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Pings every half watchdog timeout for at most {@code bound}, if the service manager expects pings. */
    public static Optional<StartupKeepAlive> start(ServiceManager manager, Duration bound) {
        return manager.watchdogTimeout().map(timeout -> new StartupKeepAlive(manager, timeout, bound));
    }

    /** Stops the pings (the daemon's own watchdog takes over, or the start failed). Idempotent. */
    @Override
    public void close() {
        timer.shutdownNow();
    }
}
