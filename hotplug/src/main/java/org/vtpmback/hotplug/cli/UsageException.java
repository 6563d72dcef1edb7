package org.vtpmback.hotplug.cli;

/** The command line is wrong: exit status 2, with the message and a pointer to the help. */
final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
