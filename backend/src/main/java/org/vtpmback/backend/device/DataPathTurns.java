package org.vtpmback.backend.device;

import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Which thread serves a device's data path, and in which turn. Every event-channel notification arrives
 * on the one reader thread: an idle device's command is served right there, without a hand-off
 * ({@link DataPath#serviceHere}); a busy device gets one coalesced look at the page queued on its executor
 * (so a guest's notifications cost O(1) pending work, whatever their rate). Also the {@link DataPath.Turn}
 * through which the data path ends a turn it holds off the pool or continues it on the executor. After
 * every step on the executor, a data path that gave up (too many engine restarts) fails the device.
 *
 * <p>Thread-safe: {@link #onEvent} on the reader; the rest in the device's turn.
 */
final class DataPathTurns implements DataPath.Turn {
    private final SerialExecutor executor;
    /** The device's connected data path, or null; must read a volatile field. */
    private final Supplier<DataPath> connected;
    /** Fails the device for good, with the reason; on the device's executor. */
    private final Consumer<String> failDevice;
    /** "Look at the page": what every notification that finds the device busy asks for. */
    private final CoalescedTask service;

    DataPathTurns(SerialExecutor executor, Supplier<DataPath> connected, Consumer<String> failDevice) {
        this.executor = executor;
        this.connected = connected;
        this.failDevice = failDevice;
        this.service = new CoalescedTask(executor, this::serviceRing);
    }

    /**
     * On the event-channel reader, for every notification: an idle device's command is served from this
     * thread without a hand-off ({@link DataPath#serviceHere}); a busy one gets one coalesced look at the
     * page queued on its executor, as every event did before.
     */
    void onEvent() {
        if (!executor.tryEnter()) {
            service.request();
            return;
        }
        DataPath path = connected.get(); // null between releaseRing and the port's unbinding: nothing to serve
        if (path == null) {
            executor.exit();
        } else {
            path.serviceHere();
        }
    }

    /** On the device's executor: one look at the page (after connecting, or for events that found it busy). */
    void serviceRing() {
        DataPath path = connected.get();
        if (path != null) {
            path.service();
            failIfGivenUp(path);
        }
    }

    @Override
    public void end() {
        executor.exit();
    }

    @Override
    public void continueOnPool(Runnable rest) {
        executor.continueOnPool(() -> {
            rest.run();
            failIfGivenUp(connected.get());
        });
    }

    private void failIfGivenUp(DataPath path) {
        if (path != null && path.failure() != null) {
            failDevice.accept(path.failure());
        }
    }
}
