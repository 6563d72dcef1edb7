package org.vtpmback.hotplug.cli;

import java.util.logging.LogManager;

/**
 * The JDK's LogManager resets itself (dropping every handler) in its own shutdown hook, which runs at
 * the same time as the daemon's; the daemon's last lines ("stopped", devices detached) would then be
 * lost. This one keeps its handlers once {@link LogSetup} has configured them. {@link Main#main} installs
 * it through {@code java.util.logging.manager} before anything logs.
 */
public final class ShutdownSafeLogManager extends LogManager {
    @Override
    public void reset() {
        if (!LogSetup.isConfigured()) {
            super.reset();
        }
    }
}
