package org.vtpmback.process;

/**
 * How a watched process ended: its exit code, the signal that killed it, or unknown (a process that is not
 * this daemon's child, such as a swtpm taken over from the daemon before: its parent reaps it). Immutable.
 *
 * @param kind  which of the three
 * @param value the exit code (0-255) or the signal number; 0 when unknown
 */
public record ExitStatus(Kind kind, int value) {
    public enum Kind { EXITED, KILLED, UNKNOWN }

    public static final ExitStatus UNKNOWN = new ExitStatus(Kind.UNKNOWN, 0);

    /** From a {@code waitpid(2)} status word (the W* macros of sys/wait.h). */
    static ExitStatus fromWaitStatus(int status) {
        int signal = status & 0x7f;
        if (signal == 0) {
            return new ExitStatus(Kind.EXITED, (status >> 8) & 0xff);
        }
        return new ExitStatus(Kind.KILLED, signal);
    }

    /** "exit code 3", "killed by signal 9" or "exited", for log messages. */
    public String describe() {
        return switch (kind) {
            case EXITED -> "exit code " + value;
            case KILLED -> "killed by signal " + value;
            case UNKNOWN -> "exited";
        };
    }
}
