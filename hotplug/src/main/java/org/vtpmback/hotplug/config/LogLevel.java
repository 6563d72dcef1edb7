package org.vtpmback.hotplug.config;

import java.util.Locale;
import java.util.logging.Level;

/** The {@code log-level} values and the java.util.logging level each one enables. */
public enum LogLevel {
    OFF(Level.OFF),
    ERROR(Level.SEVERE),
    WARN(Level.WARNING),
    INFO(Level.INFO),
    DEBUG(Level.FINE),
    TRACE(Level.FINEST),
    ALL(Level.ALL);

    private final Level julLevel;

    LogLevel(Level julLevel) {
        this.julLevel = julLevel;
    }

    public Level julLevel() {
        return julLevel;
    }

    /** The spelling used in the configuration file. */
    public String configValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
