package org.vtpmback.xen;

import java.util.Map;
import java.util.Optional;

/**
 * A Xen user-space library (or the device behind it) could not be loaded. Raised on first use, never
 * at class-load time, so code that does not touch Xen runs on machines without it.
 *
 * <p>The message is one line an operator can act on: the library, dlopen's reason and the Debian 12
 * package to install. JNA's own message is not repeated: it spans lines and lists every folder it
 * searched, the whole class path included.
 */
public class XenLibraryUnavailableException extends XenException {
    private static final long serialVersionUID = 1L;

    /** Debian 12 (Xen 4.17) packages by soname: what vtpmback loads and what those load in turn. */
    static final Map<String, String> DEBIAN_PACKAGES = Map.of(
            "libxenstore.so.4", "libxenstore4",
            "libxengnttab.so.1", "libxengnttab1",
            "libxenevtchn.so.1", "libxenevtchn1",
            "libxenctrl.so.4.17", "libxenmisc4.17",
            "libxentoolcore.so.1", "libxentoolcore1",
            "libxentoollog.so.1", "libxentoollog1",
            "libxencall.so.1", "libxencall1",
            "libxenforeignmemory.so.1", "libxenforeignmemory1",
            "libxendevicemodel.so.1", "libxendevicemodel1");

    public XenLibraryUnavailableException(String library, Throwable cause) {
        super(message(library, cause), cause);
    }

    static String message(String library, Throwable cause) {
        Optional<String> reason = dlopenReason(cause.getMessage());
        // The missing one may be a dependency: "libxentoolcore.so.1: cannot open shared object file ..."
        String missing = reason.map(r -> r.substring(0, r.indexOf(':'))).filter(DEBIAN_PACKAGES::containsKey).orElse(library);
        String advice = DEBIAN_PACKAGES.containsKey(missing)
                ? "install Debian 12's " + DEBIAN_PACKAGES.get(missing) + " (apt install " + DEBIAN_PACKAGES.get(missing) + ")"
                : "install Xen 4.17's user-space libraries (Debian 12: libxenstore4 libxengnttab1 libxenevtchn1 libxenmisc4.17)";
        return library + " is not available on this host (" + reason.orElse("it cannot be loaded") + "): " + advice
                + "; vtpmback runs in dom0 or a driver domain (host = simulated for tests)";
    }

    /** dlopen's own line ({@code <file>: <why>}) from JNA's multi-line message, if it has one. */
    private static Optional<String> dlopenReason(String jnaMessage) {
        if (jnaMessage == null) {
            return Optional.empty();
        }
        for (String line : jnaMessage.split("\n")) {
            String l = line.strip();
            int colon = l.indexOf(": ");
            if (colon > 0 && l.substring(0, colon).matches("[^ ]*\\.so[.0-9]*") && !l.startsWith("Unable to load")) {
                return Optional.of(l);
            }
        }
        return Optional.empty();
    }
}
