package org.vtpmback.xen.jna;

import com.sun.jna.Library;
import com.sun.jna.Pointer;

/** The few libc calls the bindings need: freeing library-allocated memory, the environment, poll, nice values. */
public interface LibC extends Library {
    LazyLibrary<LibC> LIBRARY = new LazyLibrary<>("c", LibC.class);

    /** POLLIN from poll.h. */
    short POLLIN = 0x001;

    /** Releases memory the Xen libraries returned with malloc (xs_read, xs_directory, ...). */
    void free(Pointer ptr);

    /** libxenstore reads XENSTORED_PATH with getenv() on every xs_open(). */
    int setenv(String name, String value, int overwrite);

    int unsetenv(String name);

    /** {@code fds} points to {@code nfds} packed {@code struct pollfd {int fd; short events; short revents;}}. */
    int poll(Pointer fds, int nfds, int timeoutMillis);

    /** PRIO_PROCESS from sys/resource.h. */
    int PRIO_PROCESS = 0;

    /** {@code setpriority(2)}; on Linux, {@code PRIO_PROCESS} with {@code who} 0 sets the calling thread's nice value. */
    int setpriority(int which, int who, int prio);
}
