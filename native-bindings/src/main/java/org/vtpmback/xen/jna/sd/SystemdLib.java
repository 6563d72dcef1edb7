package org.vtpmback.xen.jna.sd;

import com.sun.jna.Library;
import com.sun.jna.ptr.LongByReference;
import org.vtpmback.xen.jna.LazyLibrary;

/**
 * The service-manager calls of libsystemd (sd-daemon.h), raw. libsystemd0 is on every Debian 12 host,
 * so speaking the notify protocol ourselves (JDK 17 has no AF_UNIX datagrams) is not needed. All three
 * return a negative errno on failure; none allocates memory for the caller.
 */
public interface SystemdLib extends Library {
    LazyLibrary<SystemdLib> LIBRARY = new LazyLibrary<>("libsystemd.so.0", SystemdLib.class);

    /**
     * Sends {@code state} (newline-separated {@code KEY=VALUE}) to {@code $NOTIFY_SOCKET}. Returns &gt; 0
     * if sent, 0 if {@code NOTIFY_SOCKET} is unset, -errno on failure.
     */
    int sd_notify(int unset_environment, String state);

    /**
     * Whether the service manager expects keep-alive pings: &gt; 0 and {@code *usec} set to
     * {@code $WATCHDOG_USEC} if so (and {@code $WATCHDOG_PID}, when set, is this process), 0 if not,
     * -errno on a malformed environment. {@code usec} is a {@code uint64_t *}.
     */
    int sd_watchdog_enabled(int unset_environment, LongByReference usec);

    /**
     * {@link #sd_notify} on behalf of {@code pid} (0 = this process) with {@code n_fds} file descriptors
     * attached (SCM_RIGHTS), e.g. {@code FDSTORE=1}: the hand-over of open descriptors to the next
     * daemon. {@code fds} is a {@code const int *}, {@code n_fds} an {@code unsigned}.
     */
    int sd_pid_notify_with_fds(int pid, int unset_environment, String state, int[] fds, int n_fds);
}
