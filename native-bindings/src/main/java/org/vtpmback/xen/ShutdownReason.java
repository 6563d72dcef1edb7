package org.vtpmback.xen;

/**
 * Why a domain shut down: the {@code SHUTDOWN_*} codes of {@code xen/sched.h}, as carried in bits
 * 16..23 of the domain info flags. Immutable.
 */
public enum ShutdownReason {
    POWEROFF(0),
    REBOOT(1),
    SUSPEND(2),
    CRASH(3),
    WATCHDOG(4),
    SOFT_RESET(5),
    /** A code this enum does not know, or no shutdown at all. */
    UNKNOWN(-1);

    private final int code;

    ShutdownReason(int code) {
        this.code = code;
    }

    /** The C value, -1 for {@link #UNKNOWN}. */
    public int code() {
        return code;
    }

    /** The reason for a code; {@link #UNKNOWN} for any code not listed. */
    public static ShutdownReason of(int code) {
        for (ShutdownReason r : values()) {
            if (r.code == code && r != UNKNOWN) {
                return r;
            }
        }
        return UNKNOWN;
    }
}
