package org.vtpmback.xen.jna;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.time.Duration;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.XenErrnoException;

/** Waits for a library's file descriptor (xs_fileno, xenevtchn_fd) to become readable. */
public final class Poll {
    private static final int POLLFD_SIZE = 8;

    private Poll() {
    }

    /**
     * Blocks until {@code fd} is readable or {@code timeout} passes; EINTR counts as "not yet".
     *
     * @param what names the fd in the error message, e.g. {@code xs_fileno}
     * @return true if readable (or in error/hang-up state: the next call on it will report why)
     */
    public static boolean awaitReadable(int fd, Duration timeout, String what) {
        try (Memory pollfd = new Memory(POLLFD_SIZE)) {
            pollfd.setInt(0, fd);
            pollfd.setShort(4, LibC.POLLIN);
            pollfd.setShort(6, (short) 0);
            int millis = (int) Math.min(Integer.MAX_VALUE, Math.max(0, timeout.toMillis()));
            int n = LibC.LIBRARY.get().poll(pollfd, 1, millis);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR.value()) {
                    return false;
                }
                throw new XenErrnoException("poll", what + " fd " + fd, errno);
            }
            return n > 0 && pollfd.getShort(6) != 0;
        }
    }
}
