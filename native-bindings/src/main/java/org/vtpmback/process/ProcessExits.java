package org.vtpmback.process;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.XenErrnoException;
import org.vtpmback.xen.jna.LibC;
import org.vtpmback.xen.jna.ProcessCalls;

/**
 * Starts processes and notices their exits on one thread for all of them. The JDK keeps a "process reaper"
 * thread blocked in waitpid for every live {@link Process}, and polls a {@link ProcessHandle} that is not a child
 * from a thread of its own too: a daemon with a swtpm per guest had a thread per guest. Here each process is a
 * pidfd (pidfd_open, Linux 5.3), every pidfd is in one poll set, and the thread that sees one readable reaps that
 * child ({@code waitpid} on its pid: nothing else in the JVM waits for a pid it did not start) and completes its
 * {@link WatchedProcess#onExit()}. The same thread watches processes that are not children (pidfd readable on
 * exit, status unknown). Thread-safe; the thread starts with the first process watched and then stays.
 */
public final class ProcessExits {
    private static final System.Logger LOG = System.getLogger(ProcessExits.class.getName());
    private static final ProcessExits SHARED = new ProcessExits("process-exits");
    private static final int POLLFD_SIZE = 8;
    private static final short POLLNVAL = 0x020;

    private final String threadName;
    private final Object lock = new Object();
    /** Guarded by lock. */
    private final List<WatchedProcess> watched = new ArrayList<>();
    /** eventfd that wakes the thread when {@link #watched} changes; -1 until the thread runs. Guarded by lock. */
    private int wakeFd = -1;

    /** {@code threadName}: the name of this watcher's thread (a daemon thread). */
    public ProcessExits(String threadName) {
        this.threadName = threadName;
    }

    /** The daemon's one watcher. */
    public static ProcessExits shared() {
        return SHARED;
    }

    /**
     * Starts {@code argv} (argv[0] included) from {@code executable} as a child watched here: stdin /dev/null,
     * stdout and stderr appended to {@code output}, exactly {@code environment}, no other fd of the daemon,
     * every signal at its default and none blocked.
     *
     * @throws XenErrnoException naming the call that failed ({@code posix_spawn} reports a failed exec too)
     */
    public WatchedProcess spawn(Path executable, List<String> argv, Map<String, String> environment, Path output) {
        long pid = Spawn.spawn(executable, argv, environment, output);
        try {
            return watchChild(pid);
        } catch (RuntimeException e) {
            // unwatched, it would be neither reaped nor stopped: end it here
            ProcessCalls c = ProcessCalls.LIBRARY.get();
            Spawn.killPid(pid);
            c.waitpid((int) pid, new IntByReference(), 0);
            throw e;
        }
    }

    /** Watches {@code pid}, a child of this process (started by {@link #spawn}, or by {@link Spawn} for tests). */
    public WatchedProcess watchChild(long pid) {
        return add(new WatchedProcess(pid, pidfdOpen(pid), true));
    }

    /**
     * Watches {@code pid}, a process that is not a child (its exit status stays unknown); one that is already gone
     * is returned exited. The caller checks afterwards that the pid still is the process it meant.
     */
    public WatchedProcess watch(long pid) {
        int fd;
        try {
            fd = pidfdOpen(pid);
        } catch (XenErrnoException e) {
            if (e.errno() != Errno.ESRCH) {
                throw e;
            }
            WatchedProcess gone = new WatchedProcess(pid, -1, false);
            gone.exited(ExitStatus.UNKNOWN);
            return gone;
        }
        return add(new WatchedProcess(pid, fd, false));
    }

    /**
     * Stops watching {@code p} (a process not to be taken over after all): its pidfd is closed, and its
     * {@link WatchedProcess#onExit()} never completes.
     */
    public void forget(WatchedProcess p) {
        p.markForgotten();
        synchronized (lock) {
            if (wakeFd >= 0) {
                wake();
            }
        }
    }

    /** For tests: how many processes are watched now. */
    public int watching() {
        synchronized (lock) {
            return watched.size();
        }
    }

    private static int pidfdOpen(long pid) {
        int fd = ProcessCalls.LIBRARY.get().syscall(ProcessCalls.SYS_PIDFD_OPEN, (int) pid, 0);
        if (fd < 0) {
            throw new XenErrnoException("pidfd_open", "pid " + pid + " (needs Linux 5.3 or later)", Native.getLastError());
        }
        return fd;
    }

    private WatchedProcess add(WatchedProcess p) {
        synchronized (lock) {
            if (wakeFd < 0) {
                int fd = ProcessCalls.LIBRARY.get().eventfd(0, ProcessCalls.EFD_CLOEXEC | ProcessCalls.EFD_NONBLOCK);
                if (fd < 0) {
                    p.closePidfd();
                    throw new XenErrnoException("eventfd", "the process watcher's wake-up", Native.getLastError());
                }
                wakeFd = fd;
                Thread t = new Thread(this::run, threadName);
                t.setDaemon(true);
                t.start();
            }
            watched.add(p);
            wake();
        }
        return p;
    }

    /** Makes the thread rebuild its poll set (a new process, or one forgotten). */
    private void wake() {
        try (Memory one = new Memory(8)) {
            one.setLong(0, 1);
            ProcessCalls.LIBRARY.get().write(wakeFd, one, 8); // EAGAIN (counter full) still wakes it
        }
    }

    private void run() {
        while (true) {
            try {
                round();
            } catch (RuntimeException | Error e) {
                // a broken watcher would leave every exit unnoticed: say so loudly, keep going
                LOG.log(Level.ERROR, "process exit watcher failed, retrying in 1 s: " + e, e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    /** One poll over the wake-up fd and every pidfd, then the exits it showed. */
    private void round() {
        WatchedProcess[] set;
        int wake;
        synchronized (lock) {
            for (WatchedProcess p : List.copyOf(watched)) {
                if (p.forgotten()) {
                    watched.remove(p);
                    p.closePidfd();
                }
            }
            set = watched.toArray(new WatchedProcess[0]);
            wake = wakeFd;
        }
        try (Memory fds = new Memory((long) POLLFD_SIZE * (set.length + 1))) {
            put(fds, 0, wake);
            for (int i = 0; i < set.length; i++) {
                put(fds, i + 1, set[i].pidfd());
            }
            int n = LibC.LIBRARY.get().poll(fds, set.length + 1, -1);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR.value()) {
                    return;
                }
                throw new XenErrnoException("poll", set.length + " pidfds", errno);
            }
            if (revents(fds, 0) != 0) {
                try (Memory drain = new Memory(8)) {
                    ProcessCalls.LIBRARY.get().read(wake, drain, 8);
                }
            }
            for (int i = 0; i < set.length; i++) {
                if (revents(fds, i + 1) != 0) {
                    ended(set[i], (revents(fds, i + 1) & POLLNVAL) != 0);
                }
            }
        }
    }

    private static void put(Pointer fds, int i, int fd) {
        fds.setInt((long) i * POLLFD_SIZE, fd);
        fds.setShort((long) i * POLLFD_SIZE + 4, LibC.POLLIN);
        fds.setShort((long) i * POLLFD_SIZE + 6, (short) 0);
    }

    private static short revents(Pointer fds, int i) {
        return fds.getShort((long) i * POLLFD_SIZE + 6);
    }

    /** Its pidfd became readable: it has exited. A child is reaped (it has exited, so waitpid returns at once). */
    private void ended(WatchedProcess p, boolean badFd) {
        ExitStatus status = ExitStatus.UNKNOWN;
        if (p.isChild() && !badFd) {
            IntByReference word = new IntByReference();
            int r;
            do {
                r = ProcessCalls.LIBRARY.get().waitpid((int) p.pid(), word, 0);
            } while (r < 0 && Native.getLastError() == Errno.EINTR.value());
            if (r == p.pid()) {
                status = ExitStatus.fromWaitStatus(word.getValue());
            } else {
                LOG.log(Level.WARNING, "pid {0} exited but could not be reaped: {1}", Long.toString(p.pid()),
                        Errno.describe(Native.getLastError()));
            }
        }
        synchronized (lock) {
            watched.remove(p);
        }
        p.closePidfd();
        p.exited(status);
    }
}
