package org.vtpmback.xen.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.sun.jna.Library;
import org.junit.jupiter.api.Test;
import org.vtpmback.xen.XenLibraryUnavailableException;

class LazyLibraryTest {
    interface LibC extends Library {
        int getpid();
    }

    @Test
    void aSonameLoadsThroughTheDynamicLinkerWithoutJnasFolderList() {
        LazyLibrary<LibC> libc = new LazyLibrary<>("libc.so.6", LibC.class);
        assertEquals("", System.getProperty(LazyLibrary.PLATFORM_PATH)); // unless the surefire JVM was given one
        assertEquals(ProcessHandle.current().pid(), libc.get().getpid());
    }

    @Test
    void aMissingLibraryIsReportedOnEveryUse() {
        LazyLibrary<LibC> missing = new LazyLibrary<>("libvtpmback-not-there.so.1", LibC.class);
        assertFalse(missing.isAvailable());
        XenLibraryUnavailableException e = assertThrows(XenLibraryUnavailableException.class, missing::get);
        assertEquals(e.getMessage(), assertThrows(XenLibraryUnavailableException.class, missing::get).getMessage());
    }
}
