package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * The removal fast path of one device. Its re-read of the nodes runs on the device's executor, behind
 * a running command (up to swtpm's 120 s timeout), but libxl gives a removal only 10 s. So when the
 * backend directory changes while connected, a pool thread looks at once whether this is a removal
 * and, if so, refuses new commands and cuts a running one short ({@link DataPath#abortForRemoval}).
 * It is its own class because it is the one part of a device that runs off the device's executor.
 *
 * <p>Thread-safe: {@link #requestIfConnected()} is called from the watch thread, the check runs on a
 * pool thread (coalesced, so at most one waits). Neither touches the device's confined state: only
 * the connected data path as published (volatile) by the device, xenstore reads, and
 * {@link DataPath#abortForRemoval}, which is meant for another thread.
 */
final class RemovalCheck {
    /** How long a command may keep running once the toolstack removes the device (libxl waits 10 s). */
    private static final Duration REMOVAL_GRACE = Duration.ofSeconds(1);

    private final DeviceId id;
    /** The device's own logger: its lines keep the one source operators and the log rate limiter know. */
    private final System.Logger log;
    private final DeviceNodes nodes;
    /** The device's connected data path, or null; must read a volatile field. */
    private final Supplier<DataPath> connected;
    private final CoalescedTask check;

    RemovalCheck(DeviceId id, System.Logger log, DeviceNodes nodes, Supplier<DataPath> connected, Executor pool) {
        this.id = id;
        this.log = log;
        this.nodes = nodes;
        this.connected = connected;
        this.check = new CoalescedTask(pool, this::check);
    }

    /** From the watch thread, when the backend directory changed: checks on the pool if connected. */
    void requestIfConnected() {
        if (connected.get() != null) {
            check.request();
        }
    }

    /** On a pool thread: if the toolstack is removing the device, cut the running command short. */
    private void check() {
        DataPath path = connected.get();
        try {
            if (path != null && (!nodes.backendExists() || !nodes.online())) {
                path.abortForRemoval(REMOVAL_GRACE);
            }
        } catch (RuntimeException e) {
            log.log(System.Logger.Level.WARNING, "{0}: checking for a removal failed: {1}", id, e.toString());
        }
    }
}
