package org.vtpmback.hotplug.config;

/**
 * The configuration cannot be used. The message says where (file and line, or the {@code --set}
 * argument), which key, and what is wrong, so it can be shown to the operator as is.
 */
public final class ConfigException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean commandLine;

    public ConfigException(String message, boolean commandLine) {
        super(message);
        this.commandLine = commandLine;
    }

    public ConfigException(String message, boolean commandLine, Throwable cause) {
        super(message, cause);
        this.commandLine = commandLine;
    }

    /** Whether the fault is in a {@code --set} argument (a usage error) rather than in the file. */
    public boolean commandLine() {
        return commandLine;
    }
}
