package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.vtpmback.service.ServiceManager;

/**
 * {@code systemctl reload} (SIGHUP): hands the running guests to a new daemon without a gap the length of a
 * JVM start (see {@link Successor} for the protocol). The configuration file and the installed version are
 * read afresh by the successor, so a reload also applies a configuration change or a package upgrade. If the
 * successor fails to start (a bad configuration, say), this daemon keeps serving and says why.
 */
final class Reload {
    private static final System.Logger LOG = System.getLogger("vtpmback");
    /** A JVM start under emulation took up to 100 s (test/e2e); on hardware 2-3 s. */
    static final Duration WARM_TIMEOUT = Duration.ofMinutes(5);

    private final List<String> command;
    private final Path runtimeDir;
    private final ServiceManager manager;
    private final Supplier<String> serving;
    private final Serving daemon;
    private final AtomicBoolean busy = new AtomicBoolean();

    /** The running daemon, as a reload ends it. */
    interface Serving {
        /** Detaches from every guest (their swtpm processes stay); false if a stop got there first. */
        boolean detach(String status, boolean stop);

        /** Ends this process with {@code status}. */
        void finish(int status);
    }

    Reload(List<String> command, Path runtimeDir, ServiceManager manager, Supplier<String> serving, Serving daemon) {
        this.command = List.copyOf(command);
        this.runtimeDir = runtimeDir;
        this.manager = manager;
        this.serving = serving;
        this.daemon = daemon;
    }

    void run() {
        if (!busy.compareAndSet(false, true)) {
            LOG.log(Level.WARNING, "reload: ignoring SIGHUP, a reload is already under way");
            return;
        }
        boolean detached = false;
        try (Successor successor = Successor.start(command, runtimeDir)) {
            String pid = Long.toString(successor.pid()); // not a number for the log: MessageFormat would write 23,259
            LOG.log(Level.INFO, "reload: started the successor daemon, pid {0}; serving until it is ready", pid);
            manager.status(serving.get() + "; reloading: successor pid " + pid + " starting");
            try {
                successor.awaitWarm(WARM_TIMEOUT);
            } catch (Successor.NotWarm e) {
                LOG.log(Level.ERROR, "reload failed, still serving: {0}", e.getMessage());
                manager.status(serving.get() + "; the last reload failed (see the journal)");
                return;
            }
            if (!daemon.detach("reload: handing the guests over to pid " + pid, false)) {
                successor.abandon(); // a stop came first: nobody serves until systemd starts the service again
                return;
            }
            detached = true;
            if (!successor.alive()) {
                // The guests are detached and nobody serves: exit as a failure, so systemd starts a daemon that
                // takes the swtpm processes over as after a crash.
                LOG.log(Level.ERROR, "reload: the successor (pid {0}) died after it was ready; exiting so that the service"
                        + " restarts and takes the guests over", pid);
                daemon.finish(FatalErrorHandler.EXIT_STATUS);
                return;
            }
            // The successor becomes the service's main process before it serves; one last keep-alive gives it the
            // whole WatchdogSec= for its take-over.
            manager.notify("MAINPID=" + pid + "\nWATCHDOG=1\nSTATUS=reload: handed over to pid " + pid);
            successor.go();
            LOG.log(Level.INFO, "reload: handed over to pid {0}; exiting", pid);
            daemon.finish(Main.OK);
        } catch (IOException | RuntimeException e) {
            if (detached) {
                // Nobody serves now: end as a failure, so that systemd restarts the service (it takes over).
                LOG.log(Level.ERROR, "reload failed after detaching from the guests: " + e + "; exiting");
                daemon.finish(FatalErrorHandler.EXIT_STATUS);
            } else {
                LOG.log(Level.ERROR, "reload failed, still serving: " + e);
                manager.status(serving.get() + "; the last reload failed (see the journal)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            busy.set(false);
        }
    }
}
