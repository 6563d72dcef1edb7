package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.service.ServiceManager;

/**
 * systemd's watchdog ({@code WatchdogSec=}): a keep-alive every half timeout, as sd_watchdog_enabled(3)
 * advises, sent only while the daemon works: every reader thread ({@link Liveness#readers()}) turned within
 * the last period and the probe queued on the daemon's executor one period ago has run. Otherwise nothing is sent, and systemd
 * kills the daemon once the timeout has passed since the last keep-alive; a restart re-attaches the
 * guests, and their swtpm processes (KillMode=process) keep the running TPM state for it.
 */
public final class DaemonWatchdog implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(DaemonWatchdog.class.getName());

    private final ServiceManager manager;
    private final Liveness daemon;
    private final Duration period;
    private final ScheduledExecutorService timer;
    /** Confined to the timer thread. */
    private CompletableFuture<Void> probe;
    private List<String> lastProblems = List.of();

    /** What the watchdog checks: {@link VtpmDaemon} in the daemon. */
    public interface Liveness {
        /** Threads that must keep turning. */
        List<Heartbeat> readers();

        /** Completes once a task queued now on the work executor has run. */
        CompletableFuture<Void> probe();
    }

    private DaemonWatchdog(ServiceManager manager, Liveness daemon, Duration timeout) {
        this.manager = manager;
        this.daemon = daemon;
        this.period = timeout.dividedBy(2);
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vtpm-watchdog");
            t.setDaemon(true);
            return t;
        });
        this.probe = CompletableFuture.completedFuture(null); // the first tick queues the first probe
    }

    /** Starts the keep-alives if the service manager expects them (empty if not). */
    public static Optional<DaemonWatchdog> start(ServiceManager manager, Liveness daemon) {
        return manager.watchdogTimeout().map(timeout -> {
            DaemonWatchdog w = new DaemonWatchdog(manager, daemon, timeout);
            LOG.log(System.Logger.Level.INFO, "watchdog: {0} ms timeout, keep-alive every {1} ms while the daemon works",
                    Long.toString(timeout.toMillis()), Long.toString(w.period.toMillis()));
            w.timer.scheduleAtFixedRate(w::tick, 0, w.period.toNanos(), TimeUnit.NANOSECONDS);
            return w;
        });
    }

    private void tick() {
        try {
            List<String> problems = problems();
            if (problems.isEmpty()) {
                manager.watchdogPing();
                if (!lastProblems.isEmpty()) {
                    LOG.log(System.Logger.Level.WARNING, "watchdog: the daemon works again; keep-alives resumed");
                }
            } else if (!problems.equals(lastProblems)) {
                LOG.log(System.Logger.Level.ERROR, "watchdog: withholding keep-alives, systemd will kill and restart the daemon: {0}",
                        String.join("; ", problems));
            }
            lastProblems = problems;
            if (probe.isDone()) {
                probe = daemon.probe();
            }
        } catch (RuntimeException e) {
            // keep ticking: a failed check withholds one keep-alive at most
            LOG.log(System.Logger.Level.ERROR, "watchdog check failed", e);
        }
    }

    private List<String> problems() {
        List<String> problems = new ArrayList<>();
        for (Heartbeat reader : daemon.readers()) {
            if (!reader.recent(period)) {
                problems.add("reader " + reader + " is not turning");
            }
        }
        if (!probe.isDone()) {
            problems.add("a probe queued on the worker pool " + period.toMillis() + " ms ago has not run");
        }
        return problems;
    }

    /** Stops the keep-alives (on an orderly stop, after STOPPING=1). Idempotent. */
    @Override
    public void close() {
        timer.shutdownNow();
    }
}
