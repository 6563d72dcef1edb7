package org.vtpmback.hotplug.cli;

/** Runs a stop action when the process is asked to stop (SIGTERM, SIGINT); a seam for tests. */
interface Lifecycle {
    /** Registers {@code stop}; returns a handle that unregisters it. */
    Registration onStop(Runnable stop);

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
        public void haltOnFatalError() {
            FatalErrorHandler.installForThisProcess();
        }
    };
}
