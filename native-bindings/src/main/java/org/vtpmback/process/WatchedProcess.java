package org.vtpmback.process;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.XenErrnoException;
import org.vtpmback.xen.jna.ProcessCalls;

/**
 * One process whose exit {@link ProcessExits} watches through its pidfd. The pidfd, not the pid, names the
 * process, so a signal never reaches a later process that got the same pid. Thread-safe.
 */
public final class WatchedProcess {
    private final long pid;
    private final boolean child;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    /** The pidfd; -1 once closed (only the watcher closes it, after the exit). Guarded by this. */
    private int pidfd;
    private volatile boolean forgotten;

    WatchedProcess(long pid, int pidfd, boolean child) {
        this.pid = pid;
        this.pidfd = pidfd;
        this.child = child;
    }

    public long pid() {
        return pid;
    }

    /** Whether it is this daemon's child, reaped here (its exit status is then known). */
    public boolean isChild() {
        return child;
    }

    /**
     * Completes once the process has exited (and, for a child, has been reaped: its pid is free). Dependent
     * actions without an executor run on the watcher's one thread: they must be short and never block.
     */
    public CompletableFuture<ExitStatus> onExit() {
        return exit;
    }

    /** False once {@link #onExit()} has completed. */
    public boolean isAlive() {
        return !exit.isDone();
    }

    /** How it ended, once it has. */
    public Optional<ExitStatus> exitStatus() {
        return exit.isDone() ? Optional.of(exit.join()) : Optional.empty();
    }

    /** SIGKILL through the pidfd, without waiting; nothing if it has already exited. */
    public synchronized void kill() {
        if (pidfd < 0) {
            return;
        }
        int rc = ProcessCalls.LIBRARY.get().syscall(ProcessCalls.SYS_PIDFD_SEND_SIGNAL, pidfd, ProcessCalls.SIGKILL, 0L, 0);
        if (rc != 0) {
            int errno = com.sun.jna.Native.getLastError();
            if (errno != Errno.ESRCH.value()) { // ESRCH: exited, not yet noticed by the watcher
                throw new XenErrnoException("pidfd_send_signal", "pid " + pid + ", SIGKILL", errno);
            }
        }
    }

    /** Marks it no longer watched; see {@link ProcessExits#forget}. */
    void markForgotten() {
        forgotten = true;
    }

    boolean forgotten() {
        return forgotten;
    }

    synchronized int pidfd() {
        return pidfd;
    }

    /** Called by the watcher only, after the exit (or when forgotten). */
    synchronized void closePidfd() {
        if (pidfd >= 0) {
            ProcessCalls.LIBRARY.get().close(pidfd);
            pidfd = -1;
        }
    }

    void exited(ExitStatus status) {
        exit.complete(status);
    }

    @Override
    public String toString() {
        return "pid " + pid + exitStatus().map(s -> " " + s.describe()).orElse(" running");
    }
}
