package org.vtpmback.hotplug.cli;

/**
 * Runs a stop action when the process is asked to stop (SIGTERM, SIGINT), and a reload action when it is
 * asked to hand over to a successor (SIGHUP, systemd's {@code ExecReload=}); a seam for tests.
 */
interface Lifecycle {
    /** Registers {@code stop}; returns a handle that unregisters it. */
    Registration onStop(Runnable stop);

    /**
     * Runs {@code reload} on a thread of its own each time the process gets SIGHUP. Without it SIGHUP would
     * end the JVM (its default), which would detach every guest as a stop does. A test's lifecycle ignores it.
     */
    default void onReload(Runnable reload) {
    }

    /**
     * Makes an {@link Error} or uncaught exception on any thread end the process ({@link FatalErrorHandler}).
     * Only the real process does that: a test's lifecycle leaves the test JVM alone.
     */
    default void haltOnFatalError() {
    }

    interface Registration {
        void cancel();
    }

    /** JVM shutdown hooks: the JVM runs them on SIGTERM, SIGINT and System.exit. */
    Lifecycle JVM = new Lifecycle() {
        @Override
        public Registration onStop(Runnable stop) {
            Thread hook = new Thread(stop, "vtpmback-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            return () -> {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running or about to: nothing to cancel
                }
            };
        }

        @Override
        public void onReload(Runnable reload) {
            // sun.misc.Signal (jdk.unsupported) is the JDK's only way to catch a signal; the handler runs on
            // the JVM's signal dispatcher thread, so the work goes to a thread of its own.
            sun.misc.SignalHandler before = sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> {
                Thread t = new Thread(reload, "vtpmback-reload");
                t.setDaemon(true);
                t.start();
            });
            // A signal ignored when the JVM started (nohup, or a parent that ignores it) stays ignored: HotSpot
            // does not install the handler and says so only by returning SIG_IGN. A reload would then do nothing.
            if (before == sun.misc.SignalHandler.SIG_IGN && !hangupIgnoredSaid) {
                hangupIgnoredSaid = true;
                System.getLogger("vtpmback").log(System.Logger.Level.WARNING, "SIGHUP is ignored in this process"
                        + " (inherited from whoever started it, e.g. nohup): a reload (systemctl reload, kill -HUP) will do"
                        + " nothing; start vtpmback under systemd, or without nohup, to be able to reload it");
            }
        }

        private boolean hangupIgnoredSaid;

        @Override
        public void haltOnFatalError() {
            FatalErrorHandler.installForThisProcess();
        }
    };
}
