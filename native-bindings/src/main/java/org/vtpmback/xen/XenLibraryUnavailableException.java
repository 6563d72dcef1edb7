package org.vtpmback.xen;

/**
 * A Xen user-space library (or the device behind it) could not be loaded. Raised on first use, never
 * at class-load time, so code that does not touch Xen runs on machines without it.
 */
public class XenLibraryUnavailableException extends XenException {
    private static final long serialVersionUID = 1L;

    public XenLibraryUnavailableException(String library, Throwable cause) {
        super(library + " is not available on this host (" + cause.getMessage()
                + "); vtpmback needs the Xen 4.17 user-space libraries (Debian: libxenstore4, libxengnttab1,"
                + " libxenevtchn1, libxenmisc4.17) and must run in dom0 or a driver domain,"
                + " or use the simulated host for tests", cause);
    }
}
