package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.vtpmback.xen.jna.LazyLibrary;
import org.vtpmback.xen.jna.gnttab.GntTabLib;

/**
 * Opens the real libraries on a host without Xen (no /dev/xen): each open must fail with a message
 * naming the call, not crash or return a half-open handle. When the Debian libraries are unpacked
 * under -Dxen.root (the normal build), the library loads and the C open call itself must fail.
 */
class HostWithoutXenTest {
    private static final Path LIB_DIR = Path.of(System.getProperty("xen.root", "/nonexistent"), "usr/lib/x86_64-linux-gnu");

    @Test
    void grantTableOpenNamesTheCall() {
        assumeFalse(Files.exists(Path.of("/dev/xen/gntdev")), "this host has Xen");
        expectOpenFailure(GrantTable::open, "libxengnttab.so.1", "xengnttab_open(/dev/xen/gntdev) failed: ");
    }

    @Test
    void eventChannelOpenNamesTheCall() {
        assumeFalse(Files.exists(Path.of("/dev/xen/evtchn")), "this host has Xen");
        expectOpenFailure(EventChannelDevice::open, "libxenevtchn.so.1", "xenevtchn_open(/dev/xen/evtchn) failed: ");
    }

    @Test
    void xenControlOpenNamesTheCall() {
        assumeFalse(Files.exists(Path.of("/dev/xen/privcmd")) || Files.exists(Path.of("/proc/xen/privcmd")),
                "this host has Xen");
        expectOpenFailure(XenControl::open, "libxenctrl.so.4.17", "xc_interface_open(/dev/xen/privcmd) failed: ");
    }

    @Test
    void missingLibraryIsNamedAndReportedAgainOnSecondUse() {
        var lazy = new LazyLibrary<>("libxen-does-not-exist.so.9", GntTabLib.class);
        var first = assertThrows(XenLibraryUnavailableException.class, lazy::get);
        var second = assertThrows(XenLibraryUnavailableException.class, lazy::get);
        assertTrue(first.getMessage().startsWith("libxen-does-not-exist.so.9 is not available on this host"),
                first.getMessage());
        assertEquals(first.getMessage(), second.getMessage());
        // The failure is remembered, not retried: both reports carry the one load error.
        assertSame(first.getCause(), second.getCause());
        assertInstanceOf(UnsatisfiedLinkError.class, first.getCause());
        assertTrue(!lazy.isAvailable());
    }

    private static void expectOpenFailure(Executable open, String soname, String expectedPrefix) {
        XenException e = assertThrows(XenException.class, open);
        if (Files.exists(LIB_DIR.resolve(soname))) {
            XenErrnoException errno = assertInstanceOf(XenErrnoException.class, e, e.getMessage());
            // No device node at all: open(2) in the library fails with ENOENT, which must survive the
            // library's own error logging and cleanup.
            assertEquals(expectedPrefix + "ENOENT (No such file or directory)", e.getMessage());
            assertEquals(Errno.ENOENT, errno.errno());
        } else {
            assertInstanceOf(XenLibraryUnavailableException.class, e, e.getMessage());
            assertTrue(e.getMessage().startsWith(soname + " is not available on this host"), e.getMessage());
        }
    }
}
