package org.vtpmback.backend.xen;

/**
 * One bound interdomain event channel. Owns the binding: {@link #close()} unbinds it, after which the
 * remote port reverts to unbound, so a restarted backend can bind it again (Xen event_channel.c).
 *
 * <p>Thread-safety: all methods may be called from any thread, including from the port's own event
 * handler. {@code close()} is idempotent; {@link #notifyRemote()} after close throws
 * {@link IllegalStateException}.
 */
public interface BoundPort extends AutoCloseable {
    /** Our end of the channel. */
    int localPort();

    /**
     * Signals the remote end. Never blocks and never fails because of the peer: if the remote port
     * was closed meanwhile the notification is dropped silently, as Xen does.
     */
    void notifyRemote();

    /** Unbinds the port. */
    @Override
    void close();
}
