package org.vtpmback.backend.xen;

import java.util.function.Consumer;
import org.vtpmback.service.Heartbeat;

/**
 * All interdomain event channels of the daemon, multiplexed on one handle ({@code xenevtchn_open} on
 * real Xen) and one named daemon reader thread that blocks while nothing is pending, so an idle port
 * costs neither a thread nor CPU.
 *
 * <p>Delivery follows Xen: notifications are edge signals meaning "look at the shared page"; several
 * may be merged into one event, and one sent to a port nobody has bound yet is lost. Handlers
 * therefore re-read the page on every event and after every bind.
 *
 * <p>Ownership: the daemon owns the instance; {@link #close()} stops the reader thread and unbinds
 * every port still bound. Thread-safety: {@link #bind} may be called from any thread.
 */
public interface EventChannels extends AutoCloseable {
    /**
     * Binds to an unbound port the remote domain allocated for us
     * ({@code xenevtchn_bind_interdomain}).
     *
     * @param remoteDomid the frontend domain
     * @param remotePort the port it published, e.g. in xenstore {@code event-channel}
     * @param onEvent runs on the reader thread for each delivered event; the port stays masked while
     *     it runs and is unmasked after it returns, so it must be short (hand work to the device's
     *     executor). An exception it throws is logged and does not stop the reader.
     * @return the bound port; the caller owns it and closes it to unbind
     * @throws org.vtpmback.xen.XenException if the port was never allocated, is already bound, or
     *     was allocated for another domain; the message names the domain and the port
     * @throws IllegalStateException if this instance is closed
     */
    BoundPort bind(int remoteDomid, int remotePort, Consumer<BoundPort> onEvent);

    /**
     * The reader thread's heartbeat: without that thread turning, no guest is served (the daemon's
     * watchdog keep-alives depend on it).
     */
    Heartbeat reader();

    /** Stops the reader thread and unbinds all ports. Idempotent. */
    @Override
    void close();
}
