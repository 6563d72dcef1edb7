package org.vtpmback.xen;

import com.sun.jna.Native;
import org.vtpmback.xen.jna.LibC;

/**
 * The nice value of background work. On Linux the nice value belongs to a thread, not to the process
 * ({@code setpriority(2)}, NOTES), and a child process starts with the nice value of the thread that forked
 * it: a thread that lowers its own priority runs its Java work, and every process it starts (a swtpm
 * generating keys), behind everything else on the host. Raising it again needs CAP_SYS_NICE, so a thread
 * lowered here stays low.
 */
public final class BackgroundPriority {
    /** The lowest priority there is: such a thread gets about 1/70 of a CPU that a nice-0 thread wants too. */
    public static final int LOWEST = 19;

    private BackgroundPriority() {
    }

    /**
     * Gives the calling thread the nice value {@code nice} (0..19).
     *
     * @throws XenErrnoException if the kernel refuses ({@code setpriority(PRIO_PROCESS, 0, nice)} and its errno)
     * @throws XenLibraryUnavailableException if libc cannot be loaded
     */
    public static void lowerCallingThread(int nice) {
        if (nice < 0 || nice > LOWEST) {
            throw new IllegalArgumentException("nice value " + nice + " is not 0.." + LOWEST);
        }
        if (LibC.LIBRARY.get().setpriority(LibC.PRIO_PROCESS, 0, nice) != 0) {
            throw new XenErrnoException("setpriority", "PRIO_PROCESS, calling thread " + Thread.currentThread().getName()
                    + ", nice " + nice, Native.getLastError());
        }
    }
}
