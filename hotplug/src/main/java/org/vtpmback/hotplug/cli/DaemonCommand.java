package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.vtpmback.backend.device.DaemonWatchdog;
import org.vtpmback.backend.device.StartupKeepAlive;
import org.vtpmback.backend.device.VtpmDaemon;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.instance.PersistentInstances;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Sealer;
import org.vtpmback.hotplug.config.VtpmbackConfig;
import org.vtpmback.hotplug.host.Host;
import org.vtpmback.service.ServiceManager;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * {@code vtpmback daemon}: runs the backend in the foreground until the process is told to stop
 * (SIGTERM, SIGINT), then detaches from the guests without disturbing them. Every start-up failure is
 * one line on stderr and exit status 1, or {@link Main#CONFIG} (78) when only the operator can fix it (a folder
 * that is not private, a missing master key). An {@link Error} or uncaught exception on any thread afterwards halts
 * the process with {@link FatalErrorHandler#EXIT_STATUS} (70), so that systemd restarts it.
 */
final class DaemonCommand {
    private static final System.Logger LOG = System.getLogger("vtpmback");
    /** Well below systemd's default TimeoutStartSec= (90 s), which also covers JVM start and crash recovery. */
    private static final Duration STARTUP_WAIT = Duration.ofSeconds(45);
    /**
     * How long a reload's successor keeps systemd's watchdog fed from the hand-over to readiness: the state
     * store, the swtpm take-over and the startup scan (STARTUP_WAIT), with room for an emulated or loaded dom0.
     */
    private static final Duration TAKE_OVER_BOUND = Duration.ofMinutes(5);

    private DaemonCommand() {
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        StartupPhases phases = new StartupPhases();
        phases.mark("launcher, JVM and command line");
        Sealer.lookUpInBackground(); // on the other core, while this thread readies folders, lock and key
        inv.lifecycle().haltOnFatalError(); // before any reader thread starts (Host.open)
        // SIGHUP's default would end the JVM: until this daemon serves there is nothing to hand over
        inv.lifecycle().onReload(() -> LOG.log(Level.WARNING, "reload requested before this daemon is ready: ignored"));
        Swtpm.Check swtpm = Swtpm.Check.start(config.swtpm()); // its answer is awaited in runLocked
        try {
            Dirs.ensurePrivate(config.stateDir(), Dirs.Kind.STATE);
        } catch (Dirs.NotPrivate e) {
            return swtpm.failFirst(inv, () -> Main.failConfig(inv, e.getMessage()));
        } catch (IOException e) {
            return swtpm.failFirst(inv, () -> Main.fail(inv, e.getMessage()));
        }
        // A reload's successor takes the lock only after the running daemon has handed over (runLocked).
        Optional<Predecessor> predecessor = Predecessor.fromEnvironment(System.getenv());
        AtomicReference<DaemonLock> lock = new AtomicReference<>();
        if (predecessor.isEmpty()) {
            try {
                lock.set(DaemonLock.acquire(config.stateDir()));
            } catch (DaemonLock.HeldElsewhere e) {
                return swtpm.failFirst(inv, () -> Main.fail(inv, e.getMessage()));
            } catch (IOException e) {
                return swtpm.failFirst(inv,
                        () -> Main.fail(inv, "cannot lock " + config.stateDir().resolve(DaemonLock.FILE) + ": " + e));
            }
        }
        try {
            return runLocked(inv, config, swtpm, predecessor, lock, phases);
        } finally {
            Optional.ofNullable(lock.get()).ifPresent(l -> closeQuietly(l, "daemon lock"));
        }
    }

    /**
     * swtpm as configured: with {@code swtpm-jail = yes} (the default) each one as a uid of its own, in a
     * mount namespace where the daemon's state-dir, master key and runtime-dir (other vTPMs) are hidden.
     */
    static SwtpmLauncher launcher(VtpmbackConfig config) {
        SwtpmConfig swtpm = SwtpmConfig.defaults(config.runtimeDir()).withSwtpmBinary(config.swtpm());
        List<java.nio.file.Path> hidden = new java.util.ArrayList<>(
                List.of(config.stateDir(), config.runtimeDir(), config.masterKey().toAbsolutePath().getParent()));
        // a master key given as a systemd credential lives there
        Optional.ofNullable(System.getenv("CREDENTIALS_DIRECTORY")).map(java.nio.file.Path::of).ifPresent(hidden::add);
        Optional<SwtpmJail> jail = config.swtpmJailing().jail(hidden);
        if (jail.isEmpty()) {
            LOG.log(Level.WARNING, "swtpm-jail = no: every swtpm runs as root, unconfined, and parses guest TPM commands");
        }
        return new SwtpmLauncher(jail.map(swtpm::withJail).orElse(swtpm));
    }

    private static int runLocked(Invocation inv, VtpmbackConfig config, Swtpm.Check swtpmCheck,
            Optional<Predecessor> predecessor, AtomicReference<DaemonLock> lock, StartupPhases phases) {
        ServiceManager manager;
        try {
            manager = ServiceManager.fromEnvironment(System.getenv());
        } catch (RuntimeException e) { // NOTIFY_SOCKET set, libsystemd missing: systemd would wait for READY=1 in vain
            return swtpmCheck.failFirst(inv, () -> Main.fail(inv, "cannot talk to the service manager: " + e.getMessage()));
        }
        try {
            Dirs.ensurePrivate(config.runtimeDir(), Dirs.Kind.RUNTIME);
        } catch (Dirs.NotPrivate e) {
            return swtpmCheck.failFirst(inv, () -> Main.failConfig(inv, e.getMessage()));
        } catch (IOException e) {
            return swtpmCheck.failFirst(inv, () -> Main.fail(inv, e.getMessage()));
        }
        // before the first warning and the master key (the first start makes one): a swtpm that does not run is
        // the one line of a failed start, as when it was checked first
        String swtpm;
        try {
            swtpm = swtpmCheck.result();
        } catch (Swtpm.Unusable e) {
            return Main.fail(inv, e.getMessage());
        }
        phases.mark("folders, lock, service manager and swtpm --version");
        Dirs.notInRam(config.runtimeDir()).ifPresent(warning -> LOG.log(Level.WARNING, warning));
        // Before the lock in a reload's successor too: the running daemon made the key at its first start.
        MasterKey key;
        try {
            key = MasterKeys.forDaemon(config, System.getenv());
        } catch (MasterKey.Missing e) {
            return Main.failConfig(inv, e.getMessage()); // restore the key or pass its credential: a retry cannot
        } catch (IOException e) {
            return Main.fail(inv, e.getMessage());
        }
        phases.mark("master key");
        try {
            PoolStores.verifyTls(config); // before a reload's hand-over: wrong files leave the running daemon serving
        } catch (org.vtpmback.hotplug.config.ConfigException e) {
            return Main.failConfig(inv, e.getMessage());
        }
        Host host;
        try {
            host = Host.open(config);
        } catch (RuntimeException e) {
            return Main.fail(inv, "cannot open host=" + config.host().configValue() + ": " + e.getMessage());
        }
        XenStore store;
        try {
            store = connect(config);
        } catch (RuntimeException e) {
            host.close();
            return Main.fail(inv, "cannot connect to xenstored (" + config.xenstoredDescription() + "): " + e.getMessage());
        }
        phases.mark("hypervisor and xenstored");
        SwtpmLauncher launcher;
        try {
            launcher = launcher(config);
        } catch (RuntimeException e) {
            closeQuietly(store, "xenstore connection");
            host.close();
            return Main.fail(inv, "cannot run swtpm confined: " + e.getMessage());
        }
        Optional<StartupKeepAlive> keepAlive = Optional.empty();
        if (predecessor.isPresent()) {
            // Warm: everything up to here needs no lock. The running daemon detaches only now.
            try {
                predecessor.get().handOver();
                // from here on systemd's watchdog counts for us (StartupKeepAlive says why)
                keepAlive = StartupKeepAlive.start(manager, TAKE_OVER_BOUND);
                lock.set(DaemonLock.acquireWaiting(config.stateDir(), Predecessor.GO_TIMEOUT));
            } catch (Predecessor.HandoverFailed | DaemonLock.HeldElsewhere | IOException | InterruptedException e) {
                keepAlive.ifPresent(StartupKeepAlive::close);
                closeQuietly(store, "xenstore connection");
                host.close();
                return Main.fail(inv, "reload: " + e.getMessage());
            }
            phases.mark("hand-over from the running daemon");
        }
        PersistentInstances instances;
        try {
            instances = Instances.open(config, key, launcher, host.domains());
        } catch (org.vtpmback.hotplug.config.ConfigException e) {
            closeQuietly(store, "xenstore connection");
            host.close();
            keepAlive.ifPresent(StartupKeepAlive::close);
            return Main.failConfig(inv, e.getMessage()); // the pool's settings: a restart cannot help
        } catch (IOException | RuntimeException e) {
            closeQuietly(store, "xenstore connection");
            host.close();
            keepAlive.ifPresent(StartupKeepAlive::close);
            return Main.fail(inv, "cannot open the vTPM state store in " + config.stateDir() + ": " + e.getMessage());
        }
        phases.mark("state store");
        try {
            int recovered = instances.recoverAfterCrash();
            if (recovered > 0) {
                LOG.log(Level.WARNING, "the last daemon did not stop cleanly: took over the running TPM state of {0} vTPM(s)"
                        + " from its surviving swtpm processes; their guests resume it when re-attached", recovered);
            }
        } catch (RuntimeException e) {
            closeQuietly(store, "xenstore connection");
            host.close();
            keepAlive.ifPresent(StartupKeepAlive::close);
            return Main.fail(inv, "cannot recover what the last daemon left in " + config.runtimeDir() + ": " + e.getMessage());
        }
        phases.mark("swtpm processes left by the last daemon");
        VtpmDaemon daemon = new VtpmDaemon(store, config.backendDomid(), host.resources(instances));
        Running running = new Running(manager, daemon, store, host);
        Lifecycle.Registration hook = inv.lifecycle().onStop(() -> {
            if (running.detach("stopping: detaching from the guests", true)) {
                running.finish(Main.OK);
            }
        });
        daemon.onDevicesChanged(() -> {
            if (!running.detaching()) {
                manager.status(serving(daemon));
            }
        });
        try {
            awaitStartup(daemon.start());
        } catch (RuntimeException e) {
            hook.cancel();
            running.detach("stopping: the start failed", true);
            keepAlive.ifPresent(StartupKeepAlive::close);
            return Main.fail(inv, "cannot start watching backend domain " + config.backendDomid() + " in xenstore: "
                    + e.getMessage());
        }
        phases.mark("watch and startup scan");
        LOG.log(Level.INFO, "vtpmback {0} serving backend domain {1} on {2}, state in {3}, host {4}",
                Version.get(), config.backendDomid(), config.xenstoredDescription(), config.stateDir(), host.description());
        LOG.log(Level.INFO, "config file {0}; swtpm {1}; runtime in {2}; default TPM family {3}, {4} per-vTPM override(s)",
                config.source().map(Object::toString).orElse("none (built-in defaults)"), swtpm, config.runtimeDir(),
                VtpmbackConfig.familyValue(config.defaultTpmFamily()), config.tpmFamilies().size());
        LOG.log(Level.INFO, "ready {0}", phases.summary());
        // the watch is armed and every device found at start took its first step: libxl may add devices now
        manager.ready(serving(daemon));
        running.watchdog(DaemonWatchdog.start(manager, daemon));
        keepAlive.ifPresent(StartupKeepAlive::close);
        try {
            running.control(ControlServer.start(config.runtimeDir(), () -> StatusReport.encode(daemon.status())));
        } catch (IOException e) {
            LOG.log(Level.WARNING, "no control socket in {0} ({1}): 'vtpmback status' cannot ask this daemon", config.runtimeDir(),
                    IoErrors.reason(e));
        }
        // after READY=1: a slow start is worth a line, but not a moment of the start itself
        ClassDataSharing.advice(ClassDataSharing.state()).ifPresent(advice -> LOG.log(Level.WARNING, advice));
        Reload reload = new Reload(Successor.commandLine(System.getenv(), inv), config.runtimeDir(), manager,
                () -> serving(daemon), running);
        inv.lifecycle().onReload(reload::run);
        return running.awaitFinish();
    }

    /** The serving daemon and what it holds, for the one stop or hand-over that ends it. */
    private static final class Running implements Reload.Serving {
        private final ServiceManager manager;
        private final VtpmDaemon daemon;
        private final XenStore store;
        private final Host host;
        private final AtomicBoolean detaching = new AtomicBoolean();
        private final CountDownLatch finished = new CountDownLatch(1);
        private final AtomicInteger exitStatus = new AtomicInteger(Main.OK);
        private volatile Optional<DaemonWatchdog> watchdog = Optional.empty();
        private volatile Optional<ControlServer> control = Optional.empty();

        Running(ServiceManager manager, VtpmDaemon daemon, XenStore store, Host host) {
            this.manager = manager;
            this.daemon = daemon;
            this.store = store;
            this.host = host;
        }

        void watchdog(Optional<DaemonWatchdog> w) {
            this.watchdog = w;
        }

        void control(ControlServer c) {
            this.control = Optional.of(c);
        }

        boolean detaching() {
            return detaching.get();
        }

        /**
         * Detaches from every guest, leaving their swtpm processes running (a stop, or a hand-over to a
         * successor). Only the first call does it; false for the others.
         */
        @Override
        public boolean detach(String status, boolean stop) {
            if (!detaching.compareAndSet(false, true)) {
                return false;
            }
            if (stop) {
                manager.stopping(status);
            } else {
                manager.status(status);
            }
            watchdog.ifPresent(DaemonWatchdog::close);
            control.ifPresent(c -> closeQuietly(c, "control socket")); // a reload's successor binds it once it serves
            LOG.log(Level.INFO, "{0} (the guests keep their vTPMs; the next daemon re-attaches)", status);
            try {
                daemon.close();
            } catch (RuntimeException e) {
                LOG.log(Level.ERROR, "stopping the daemon failed", e);
            } finally {
                closeQuietly(store, "xenstore connection");
                closeQuietly(host, "host");
                LogSetup.flush(); // on SIGTERM the JVM ends with this hook: the last lines must be out by then
            }
            return true;
        }

        /** Ends the daemon's main thread with {@code status}. */
        @Override
        public void finish(int status) {
            exitStatus.set(status);
            finished.countDown();
        }

        int awaitFinish() {
            try {
                finished.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (detach("stopping: interrupted", true)) {
                    finish(Main.OK);
                }
            }
            return exitStatus.get();
        }
    }

    /**
     * Waits for the start-up scan, but at most {@link #STARTUP_WAIT}: a device whose first step hangs
     * (a swtpm that never answers) must not keep the others from being announced ready, nor make systemd
     * kill the daemon at TimeoutStartSec= and start it over and over.
     */
    private static void awaitStartup(CompletableFuture<Void> started) {
        try {
            started.get(STARTUP_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.log(Level.WARNING, "devices found at start still take their first step after {0} s; reporting ready anyway",
                    STARTUP_WAIT.toSeconds());
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while scanning the devices present at start");
        }
    }

    private static String serving(VtpmDaemon daemon) {
        int n = daemon.devices().size();
        return "serving " + n + (n == 1 ? " vTPM" : " vTPMs");
    }

    private static XenStore connect(VtpmbackConfig config) {
        XenStore store = config.xenstoredSocket().map(LibXenStore::connect).orElseGet(LibXenStore::connectDefault);
        try {
            store.list(XsPath.ROOT); // xs_open only connects: make xenstored answer once
            return store;
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    private static void closeQuietly(AutoCloseable c, String what) {
        try {
            c.close();
        } catch (Exception e) {
            LOG.log(Level.WARNING, "closing the " + what + " failed", e);
        }
    }
}
