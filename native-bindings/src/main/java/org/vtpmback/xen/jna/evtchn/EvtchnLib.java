package org.vtpmback.xen.jna.evtchn;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import org.vtpmback.xen.jna.LazyLibrary;

/**
 * Raw binding of {@code libxenevtchn.so.1} (Xen 4.17 {@code xenevtchn.h}). {@code evtchn_port_t} is a
 * uint32 mapped as {@code int}; calls returning {@code xenevtchn_port_or_error_t} give a port or -1 +
 * errno. Read errno with {@code Native.getLastError()} right after a failed call. Use the checked
 * layer ({@code org.vtpmback.xen.EventChannelDevice}) instead of calling this directly.
 *
 * <p>Header rules: a port is masked when its event is delivered ({@link #xenevtchn_unmask} after
 * handling); always poll the fd before {@link #xenevtchn_pending}; do not poll one handle from
 * several threads.
 */
public interface EvtchnLib extends Library {
    /** Loaded on first use; the soname pins the stable ABI. */
    LazyLibrary<EvtchnLib> LIBRARY = new LazyLibrary<>("libxenevtchn.so.1", EvtchnLib.class);

    /** Open flag: keep the fd across exec (by default it is close-on-exec). */
    int XENEVTCHN_NO_CLOEXEC = 1;

    /** Opens {@code /dev/xen/evtchn}. A NULL logger logs to stderr. NULL + errno on failure. */
    XenEvtchnHandle xenevtchn_open(Pointer logger, int flags);

    /** Frees the handle and unbinds its ports. */
    int xenevtchn_close(XenEvtchnHandle xce);

    /** The fd to poll for readability; owned by the handle, never close it. */
    int xenevtchn_fd(XenEvtchnHandle xce);

    /** Signals the remote end of local {@code port}. -1 + errno. */
    int xenevtchn_notify(XenEvtchnHandle xce, int port);

    /** Binds to {@code remotePort} of {@code domid}; returns the new local port or -1 + errno. */
    int xenevtchn_bind_interdomain(XenEvtchnHandle xce, int domid, int remotePort);

    /** Allocates a local port that {@code domid} may bind to; the port or -1 + errno. */
    int xenevtchn_bind_unbound_port(XenEvtchnHandle xce, int domid);

    /** Unbinds local {@code port}. -1 + errno. */
    int xenevtchn_unbind(XenEvtchnHandle xce, int port);

    /** The next local port with a pending event (now masked), or -1 + errno (EAGAIN: none). */
    int xenevtchn_pending(XenEvtchnHandle xce);

    /** Re-enables delivery on {@code port}. -1 + errno. */
    int xenevtchn_unmask(XenEvtchnHandle xce, int port);
}
