package org.vtpmback.xen.jna;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * The libc and Linux calls that start a process without a JDK {@link Process} (posix_spawn) and watch many
 * processes' exits from one thread (pidfd, poll, waitpid). Constants are Linux's (x86_64 and aarch64 alike).
 */
public interface ProcessCalls extends Library {
    LazyLibrary<ProcessCalls> LIBRARY = new LazyLibrary<>("c", ProcessCalls.class);

    /** Sizes of glibc's opaque types on 64-bit Linux (80, 336, 128 bytes), rounded up generously. */
    int FILE_ACTIONS_SIZE = 256;
    int SPAWNATTR_SIZE = 1024;
    int SIGSET_SIZE = 128;

    short POSIX_SPAWN_SETSIGDEF = 0x04;
    short POSIX_SPAWN_SETSIGMASK = 0x08;

    int O_RDONLY = 0;
    int O_WRONLY = 01;
    int O_CREAT = 0100;
    int O_APPEND = 02000;

    /** pidfd_open(2) and pidfd_send_signal(2): the generic syscall numbers, the same on every architecture since 5.1. */
    long SYS_PIDFD_SEND_SIGNAL = 424;
    long SYS_PIDFD_OPEN = 434;

    int SIGKILL = 9;
    int WNOHANG = 1;
    int EFD_NONBLOCK = 04000;
    int EFD_CLOEXEC = 02000000;

    int posix_spawn_file_actions_init(Pointer actions);

    int posix_spawn_file_actions_destroy(Pointer actions);

    int posix_spawn_file_actions_addopen(Pointer actions, int fd, String path, int oflag, int mode);

    int posix_spawn_file_actions_adddup2(Pointer actions, int fd, int newfd);

    /** glibc 2.34: closes every fd from {@code from} up in the child (close_range), whatever its O_CLOEXEC. */
    int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);

    int posix_spawnattr_init(Pointer attr);

    int posix_spawnattr_destroy(Pointer attr);

    int posix_spawnattr_setflags(Pointer attr, short flags);

    int posix_spawnattr_setsigmask(Pointer attr, Pointer sigmask);

    int posix_spawnattr_setsigdefault(Pointer attr, Pointer sigdefault);

    int sigemptyset(Pointer set);

    int sigfillset(Pointer set);

    /** {@code argv} and {@code envp}: JNA passes a String[] as a NULL-terminated char*[]. Returns an errno, not -1. */
    int posix_spawn(IntByReference pid, String path, Pointer fileActions, Pointer attr, String[] argv, String[] envp);

    /** {@code syscall(2)} for pidfd_open and pidfd_send_signal (glibc wraps them only from 2.36). */
    int syscall(long number, Object... args);

    int waitpid(int pid, IntByReference status, int options);

    int eventfd(int initval, int flags);

    long read(int fd, Pointer buf, long count);

    long write(int fd, Pointer buf, long count);

    int close(int fd);
}
