package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.vtpmback.backend.instance.ActivationRequest;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.instance.Teardown;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;
import org.vtpmback.xen.DomainId;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;

/**
 * One {@code backend/vtpm/<domid>/<devid>} device. The handshake and the TPM commands of one guest
 * run on the device's own {@link SerialExecutor}, so they never overlap, while different guests run
 * in parallel.
 *
 * <p>Whatever the guest does, the device holds O(1) pending work: event-channel notifications
 * coalesce into one "the page may have changed" task and xenstore watch events into one "re-read
 * the state" task, each queued at most once until it starts (both are level-triggered: the task
 * looks at the page or the nodes as they are when it runs, so merging events loses nothing).
 *
 * <p>Parts with a rule of their own live beside it: {@link RemovalCheck} (the one part that runs on
 * the pool, off the device's executor), {@link HandshakeRestarts} (the restart rate limit) and
 * {@link ParkedInstance} (who may reuse a running vTPM, and when it is saved).
 */
public final class VtpmDevice {
    private static final System.Logger LOG = System.getLogger(VtpmDevice.class.getName());
    /** Engine restarts after swtpm died: waits of 1, 2, 4, 8 s between them, one forgiven per 5 minutes. */
    static final int ENGINE_RESTART_LIMIT = 5;

    private final DeviceId id;
    private final DeviceNodes nodes;
    private final DeviceResources resources;
    private final SerialExecutor executor;
    private final Runnable onRemoved;
    private final Strikes engineRestarts = new Strikes(ENGINE_RESTART_LIMIT, Duration.ofSeconds(1),
            Duration.ofSeconds(8), Duration.ofMinutes(5));
    /** "Look at the page": what every event-channel notification asks for. */
    private final CoalescedTask service;
    /** "Re-read the nodes": what every watch event asks for. */
    private final CoalescedTask reevaluation;
    /** Whether a backend-directory change is a removal, looked at on the pool. */
    private final RemovalCheck removalCheck;
    private final HandshakeRestarts handshakeRestarts;
    private List<Watch> watches = List.of();
    /** Written on the executor; read by the removal check on another thread. */
    private volatile DataPath dataPath;
    /** A vTPM kept running while the frontend is closed: reused if it reconnects, saved when the device goes. */
    private final ParkedInstance parked;
    private boolean removed;
    /** The device was failed for good: only its removal by the toolstack is handled from now on. */
    private boolean failed;

    /** Where started TPM commands are answered (shared by all devices). */
    private final org.vtpmback.backend.engine.ReplyLoop replies;
    /** How the data path ends or continues a turn it holds off the pool. */
    private final DataPath.Turn turn = new DataPath.Turn() {
        @Override
        public void end() {
            executor.exit();
        }

        @Override
        public void continueOnPool(Runnable rest) {
            executor.continueOnPool(() -> {
                rest.run();
                failIfGivenUp(dataPath);
            });
        }
    };

    VtpmDevice(DeviceId id, XenStore store, int backendDomid, DeviceResources resources, Executor pool,
               org.vtpmback.backend.engine.ReplyLoop replies, Runnable onRemoved) {
        this.id = id;
        this.replies = replies;
        this.nodes = new DeviceNodes(store, backendDomid, id);
        this.resources = resources;
        this.executor = new SerialExecutor(pool, "vtpm-" + id.frontendDomid() + "-" + id.devid());
        this.onRemoved = onRemoved;
        this.service = new CoalescedTask(executor, this::serviceRing);
        this.reevaluation = new CoalescedTask(executor, this::reevaluate);
        this.removalCheck = new RemovalCheck(id, LOG, nodes, () -> dataPath, pool);
        this.handshakeRestarts = new HandshakeRestarts(reevaluation::request, this::failDevice);
        this.parked = new ParkedInstance(id, LOG);
    }

    public DeviceId id() {
        return id;
    }

    /**
     * What this device is doing now, for status output: called from the control socket's thread, so it reads the
     * published data path and xenstore, never the executor's state.
     */
    DeviceStatus status(java.util.Optional<String> domainName) {
        DataPath dp = dataPath;
        XenbusState ours;
        try {
            ours = nodes.ourState();
        } catch (RuntimeException e) { // removed meanwhile
            ours = XenbusState.UNKNOWN;
        }
        if (dp == null) {
            return new DeviceStatus(id, domainName, ours, java.util.Optional.empty(), 0, java.util.Optional.empty());
        }
        long now = System.nanoTime();
        java.util.OptionalLong last = dp.lastCommandNanos();
        return new DeviceStatus(id, domainName, ours, java.util.Optional.of(dp.instance().status()), dp.served(),
                last.isPresent() ? java.util.Optional.of(Duration.ofNanos(now - last.getAsLong())) : java.util.Optional.empty());
    }

    /** Watches backend and frontend state; completes after a first step on what xenstore held once they were armed. */
    CompletableFuture<Void> start(XenStore store) {
        executor.execute(() -> LOG.log(System.Logger.Level.INFO, "{0}: found backend {1}", id, nodes.backend()));
        watches = List.of(
                store.watch(nodes.backend(), p -> {
                    reevaluation.request();
                    removalCheck.requestIfConnected();
                }),
                store.watch(nodes.frontendState(), p -> reevaluation.request()));
        reevaluation.request(); // now, not when the watch events arrive: the completion queues behind it
        return CompletableFuture.runAsync(() -> { }, executor);
    }

    /** The most tasks that ever waited on this device at once (for tests: stays O(1) whatever the guest does). */
    int maxPendingWork() {
        return executor.maxPending();
    }

    /** Re-reads everything and takes the next step: watches are level-triggered. */
    private void reevaluate() {
        if (removed) {
            return;
        }
        if (!nodes.backendExists()) {
            LOG.log(System.Logger.Level.INFO, "{0}: backend directory removed", id);
            releaseRing();
            parked.finishForRemoval();
            remove();
            return;
        }
        XenbusState ours = nodes.ourState();
        XenbusState theirs = nodes.theirState();
        boolean online = nodes.online();
        try {
            if (!online) {
                // Only the toolstack takes a device away (online = 0, or the directory removed): save the
                // vTPM before reporting Closed, since libxl destroys the domain right after and the save
                // asks the domain why it went away. A frontend state of 0, garbage or a deleted node is
                // the guest's own doing: that only closes the ring (below), the vTPM stays parked.
                releaseRing();
                parked.finishForRemoval();
            } else if (failed) {
                return; // failed for good: the guest's writes are ignored until the toolstack removes the device
            } else if (theirs == XenbusState.CLOSING || theirs == XenbusState.CLOSED) {
                parked.frontendClosed();
            }
            if (online && dataPath != null && theirs == XenbusState.INITIALISED && ringReplaced()) {
                // The frontend published a new page and port without closing (resume in place): drop
                // the old ring, keep the TPM, and connect to the new one.
                if (!handshakeRestarts.mayRestart("published a new ring")) {
                    return;
                }
                LOG.log(System.Logger.Level.INFO, "{0}: frontend published a new ring; reconnecting", id);
                releaseRing();
            }
            XenbusStep step = XenbusStateMachine.step(ours, theirs, online, dataPath != null);
            if (!(step instanceof XenbusStep.Stay)) {
                LOG.log(System.Logger.Level.DEBUG, "{0}: ours {1} theirs {2} online {3} -> {4}", id, ours, theirs, online, step);
            }
            if (online && handshakeRestarts.isRestart(step) && !handshakeRestarts.mayRestart("restarted the handshake")) {
                return;
            }
            apply(step, ours);
        } catch (RuntimeException e) {
            fail(e);
        }
    }

    private boolean ringReplaced() {
        try {
            return !nodes.readRing().equals(dataPath.ring());
        } catch (GuestProtocolException e) {
            return true; // let the connect path report what is wrong with it
        }
    }

    private void apply(XenbusStep step, XenbusState ours) {
        if (step instanceof XenbusStep.Switch s) {
            if (s.to() == XenbusState.INIT_WAIT) {
                nodes.checkFrontendPath();
                nodes.advertiseFeatures(); // must exist before the frontend sees us Connected
            }
            switchState(s.to());
            if (s.to() == XenbusState.INIT_WAIT) {
                handshakeRestarts.started();
                resources.instances().prepare(id.toString(), nodes.backendKey(VtpmKeys.UUID));
            }
        } else if (step instanceof XenbusStep.Connect) {
            connect(ours == XenbusState.CONNECTED);
        } else if (step instanceof XenbusStep.Disconnect d) {
            releaseRing();
            switchState(d.then());
        }
    }

    private void connect(boolean reattach) {
        nodes.checkFrontendPath();
        FrontendRing ring = nodes.readRing();
        boolean resume = nodes.backendFlag(VtpmKeys.RESUME);
        MappedGrant grant = resources.grants().map(id.frontendDomid(), ring.grantRef());
        ActiveInstance instance;
        try {
            Optional<String> uuid = nodes.backendKey(VtpmKeys.UUID);
            instance = parked.takeIfSame(uuid).orElseGet(() -> resources.instances().activate(new ActivationRequest(
                    id.toString(), new DomainId(id.frontendDomid()), uuid, resume, reattach)));
        } catch (RuntimeException e) {
            grant.close();
            throw e;
        }
        DataPath path = new DataPath(id.toString(), ring, grant, instance, engineRestarts, replies, turn);
        try {
            BoundPort port = resources.eventChannels().bind(id.frontendDomid(), ring.port(), p -> onEvent());
            path.attachPort(port);
        } catch (RuntimeException e) {
            parked.park(path.releaseRing());
            throw e;
        }
        dataPath = path;
        parked.frontendConnected();
        handshakeRestarts.started();
        if (resume) {
            // The restore signal is consumed, as xend's _endRestore did: a later reconnect of this
            // frontend must not ask for the (now used) snapshot again.
            nodes.writeIfPresent(VtpmKeys.RESUME, "False");
        }
        nodes.advertiseFeatures();
        nodes.writeIfPresent(VtpmKeys.READY, "1");
        nodes.clearError();
        switchState(XenbusState.CONNECTED);
        LOG.log(System.Logger.Level.INFO, "{0}: {1} (grant {2}, port {3})", id,
                reattach ? "re-attached to the running frontend" : "connected", ring.grantRefUnsigned(), ring.port());
        serviceRing(); // the frontend may have submitted before we were bound
    }

    /**
     * On the event-channel reader, for every notification: an idle device's command is served from this
     * thread without a hand-off ({@link DataPath#serviceHere}); a busy one gets one coalesced look at the
     * page queued on its executor, as every event did before.
     */
    private void onEvent() {
        if (!executor.tryEnter()) {
            service.request();
            return;
        }
        DataPath path = dataPath; // null between releaseRing and the port's unbinding: nothing to serve
        if (path == null) {
            executor.exit();
        } else {
            path.serviceHere();
        }
    }

    private void serviceRing() {
        DataPath path = dataPath;
        if (path != null) {
            path.service();
            failIfGivenUp(path);
        }
    }

    private void failIfGivenUp(DataPath path) {
        if (path != null && path.failure() != null) {
            failDevice(path.failure());
        }
    }

    /**
     * Fails the device for good, as xenbus_dev_fatal does for a "buggy or malicious guest": the
     * {@code error} node first (so whoever sees the state change finds the reason), then Closing and
     * Closed (Linux unregisters the TPM on either; libxl's removal then finds Closed and does not wait).
     * The vTPM stays parked, saved as usual when the toolstack removes the device; until then every
     * frontend change is ignored.
     */
    private void failDevice(String reason) {
        if (failed) {
            return;
        }
        failed = true;
        LOG.log(System.Logger.Level.ERROR, "{0}: device failed: {1}; it stays Closed until the toolstack removes it", id, reason);
        report(reason, XenbusState.CLOSING, XenbusState.CLOSED);
    }

    private void fail(RuntimeException e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        LOG.log(System.Logger.Level.ERROR, "{0}: {1}", id, message);
        if (!(e instanceof GuestProtocolException) && !(e instanceof org.vtpmback.backend.instance.InstanceException)) {
            LOG.log(System.Logger.Level.DEBUG, id + ": stack trace", e);
        }
        report(message, XenbusState.CLOSING); // as xenbus_dev_fatal does: the guest gives up on this device
    }

    /** Drops the ring, then writes the {@code error} node before the states, so whoever sees them finds the reason. */
    private void report(String reason, XenbusState... then) {
        releaseRing();
        try {
            nodes.writeError(reason);
            for (XenbusState state : then) {
                switchState(state);
            }
        } catch (RuntimeException again) {
            LOG.log(System.Logger.Level.ERROR, id + ": could not report the failure in xenstore", again);
        }
    }

    private void switchState(XenbusState to) {
        if (nodes.switchState(to)) {
            LOG.log(System.Logger.Level.INFO, "{0}: backend state -> {1}", id, to);
        }
    }

    /** Unmaps and unbinds; the vTPM keeps running, parked, until the device's fate is known. */
    private void releaseRing() {
        if (dataPath != null) {
            DataPath old = dataPath;
            dataPath = null;
            try {
                parked.park(old.releaseRing());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, id + ": releasing the shared page or port failed", e);
            }
            LOG.log(System.Logger.Level.INFO, "{0}: disconnected after {1} commands", id, old.served());
        }
    }

    private void remove() {
        removed = true;
        watches.forEach(Watch::close);
        onRemoved.run();
    }

    /** Detaches without touching xenstore, for a daemon stop: the guest stays Connected. */
    void detach(Runnable done) {
        executor.execute(() -> {
            try {
                removed = true;
                watches.forEach(Watch::close);
                releaseRing();
                parked.finish(Teardown.DAEMON_STOP);
            } finally {
                done.run();
            }
        });
    }
}
