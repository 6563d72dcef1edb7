package org.vtpmback.xen.jna;

import com.sun.jna.Library;
import com.sun.jna.Native;
import org.vtpmback.xen.XenLibraryUnavailableException;

/**
 * Loads a native library on first use, not at class-load time, so code that never touches Xen runs on
 * hosts without the Xen libraries. A failed load is remembered and reported again, with the same
 * clear message, on every later use.
 */
public final class LazyLibrary<T extends Library> {
    /**
     * JNA's own list of library folders, which it builds at its first load unless this property is set: on Linux
     * by running {@code /sbin/ldconfig -p}, a process spawn that cost a daemon's start 20-40 ms (issue 13,
     * "Start-up"). Every library here is loaded by its full soname, which dlopen finds itself (LD_LIBRARY_PATH,
     * ld.so.cache, the default folders), so the list adds nothing; empty, JNA skips it. An operator's own value
     * (-Djna.platform.library.path=...) is kept.
     */
    static final String PLATFORM_PATH = "jna.platform.library.path";

    static {
        if (System.getProperty(PLATFORM_PATH) == null) {
            System.setProperty(PLATFORM_PATH, "");
        }
    }

    private final String soname;
    private final Class<T> type;
    private T instance;
    private Throwable failure;

    public LazyLibrary(String soname, Class<T> type) {
        this.soname = soname;
        this.type = type;
    }

    /** The loaded library; throws {@link XenLibraryUnavailableException} if it cannot be loaded. */
    public synchronized T get() {
        if (instance == null && failure == null) {
            try {
                // A full soname ("libxenstore.so.4") goes to dlopen as is: Debian ships no unversioned
                // .so symlink without the -dev package, and the soname pins the ABI we mapped.
                instance = Native.load(soname, type);
            } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
                failure = e;
            }
        }
        if (instance == null) {
            throw new XenLibraryUnavailableException(soname, failure);
        }
        return instance;
    }

    /** Whether the library loads on this host (loads it if needed). */
    public boolean isAvailable() {
        try {
            get();
            return true;
        } catch (XenLibraryUnavailableException e) {
            return false;
        }
    }

    public String soname() {
        return soname;
    }
}
