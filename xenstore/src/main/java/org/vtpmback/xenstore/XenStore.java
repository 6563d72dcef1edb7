package org.vtpmback.xenstore;

import org.vtpmback.service.Heartbeat;

/**
 * A connection to xenstored. Thread-safe. Implementations own one daemon connection and one watch
 * reader thread that routes events by token to their {@link WatchHandler}s.
 */
public interface XenStore extends XenStoreOps, AutoCloseable {
    /** How many times {@link #inTransaction} starts a transaction over before giving up. */
    int MAX_TRANSACTION_ATTEMPTS = 64;

    /**
     * Runs {@code body} in a transaction and commits it, starting over when the commit fails with
     * EAGAIN (up to {@link #MAX_TRANSACTION_ATTEMPTS} times). An exception from the body aborts the
     * transaction and propagates.
     */
    <T> T inTransaction(TransactionBody<T> body);

    /** Registers a watch on {@code path} and its subtree (or a special path such as {@code @releaseDomain}). */
    Watch watch(XsPath path, WatchHandler handler);

    /**
     * The watch reader's heartbeat: without that thread turning, no watch fires again (the daemon's
     * watchdog keep-alives depend on it).
     */
    Heartbeat watchReader();

    /** {@code /local/domain/<domid>}, as the daemon reports it. */
    XsPath domainPath(int domid);

    /** Whether xenstored knows the domain (introduced and not yet released). */
    boolean isDomainIntroduced(int domid);

    /** Stops the watch thread and closes the connection. Idempotent. */
    @Override
    void close();
}
