package org.vtpmback.xen.jna;

import com.sun.jna.Library;
import com.sun.jna.Pointer;

/** The few libc calls the bindings need: freeing library-allocated memory, the environment, poll. */
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
}
