package org.vtpmback.service;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * What the daemon tells the service manager that started it (systemd's notify protocol, sd_notify(3)):
 * readiness, a status line, stopping, watchdog keep-alives. {@link #fromEnvironment} gives a no-op
 * where no service manager listens ({@code NOTIFY_SOCKET} unset: a daemon started by hand or by a test),
 * so callers never ask. Thread-safe.
 */
public interface ServiceManager {
    /** Where nobody listens: every notification is dropped, no watchdog is expected. */
    ServiceManager NONE = new ServiceManager() {
        @Override
        public void notify(String state) {
        }

        @Override
        public Optional<Duration> watchdogTimeout() {
            return Optional.empty();
        }
    };

    /** libsystemd's when {@code env} has {@code NOTIFY_SOCKET} (systemd's {@code Type=notify}), else {@link #NONE}. */
    static ServiceManager fromEnvironment(Map<String, String> env) {
        String socket = env.get("NOTIFY_SOCKET");
        return socket == null || socket.isEmpty() ? NONE : LibSystemdServiceManager.open();
    }

    /**
     * Sends {@code state}, newline-separated {@code KEY=VALUE} assignments ({@code READY=1}, ...). A
     * failure to send is logged, not thrown: systemd then acts on its own timeouts.
     */
    void notify(String state);

    /** {@code WatchdogSec=} as passed in {@code WATCHDOG_USEC}, if systemd expects keep-alives from this process. */
    Optional<Duration> watchdogTimeout();

    /** Start-up is complete: systemd starts the units ordered after us. */
    default void ready(String status) {
        notify("READY=1\nSTATUS=" + status);
    }

    /** The one-line status {@code systemctl status} shows. */
    default void status(String status) {
        notify("STATUS=" + status);
    }

    /** An orderly stop has begun. */
    default void stopping(String status) {
        notify("STOPPING=1\nSTATUS=" + status);
    }

    /** One keep-alive: send only when the daemon is known to work. */
    default void watchdogPing() {
        notify("WATCHDOG=1");
    }
}
