package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.instance.Teardown;
import org.vtpmback.backend.ring.GuestProtocolException;
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
 * the pool, off the device's executor), {@link HandshakeRestarts} (the restart rate limit),
 * {@link ParkedInstance} (who may reuse a running vTPM, and when it is saved), {@link DataPathSetup}
 * (a ring's resources taken in order, given back on failure), {@link DataPathTurns} (which thread serves
 * a notification) and {@link DeviceFailure} (how a failure reaches xenstore).
 */
public final class VtpmDevice {
    private static final System.Logger LOG = System.getLogger(VtpmDevice.class.getName());

    private final DeviceId id;
    private final DeviceNodes nodes;
    private final DeviceResources resources;
    private final SerialExecutor executor;
    private final Runnable onRemoved;
    /** Which thread serves the data path: the reader for an idle device, else the executor. */
    private final DataPathTurns turns;
    /** Builds the data path when the frontend connects. */
    private final DataPathSetup setup;
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
    /** Reports failures in xenstore; knows whether the device was failed for good. */
    private final DeviceFailure failure;

    /** @param replies where started TPM commands are answered (shared by all devices) */
    VtpmDevice(DeviceId id, XenStore store, int backendDomid, DeviceResources resources, Executor pool,
               ReplyLoop replies, Runnable onRemoved) {
        this.id = id;
        this.nodes = new DeviceNodes(store, backendDomid, id);
        this.resources = resources;
        this.executor = new SerialExecutor(pool, "vtpm-" + id.frontendDomid() + "-" + id.devid());
        this.onRemoved = onRemoved;
        this.failure = new DeviceFailure(id, LOG, nodes, this::releaseRing, this::switchState);
        this.turns = new DataPathTurns(executor, () -> dataPath, failure::failForGood);
        this.reevaluation = new CoalescedTask(executor, this::reevaluate);
        this.removalCheck = new RemovalCheck(id, LOG, nodes, () -> dataPath, pool);
        this.handshakeRestarts = new HandshakeRestarts(reevaluation::request, failure::failForGood);
        this.parked = new ParkedInstance(id, LOG, pool);
        this.setup = new DataPathSetup(id, nodes, resources, parked, replies, turns);
    }

    public DeviceId id() {
        return id;
    }

    /**
     * What this device is doing now, for status output: called from the control socket's thread, so it reads the
     * published data path and xenstore, never the executor's state.
     */
    DeviceStatus status(Optional<String> domainName) {
        DataPath dp = dataPath;
        XenbusState ours;
        try {
            ours = nodes.ourState();
        } catch (RuntimeException e) { // removed meanwhile
            ours = XenbusState.UNKNOWN;
        }
        if (dp == null) {
            return new DeviceStatus(id, domainName, ours, Optional.empty(), 0, Optional.empty());
        }
        long now = System.nanoTime();
        OptionalLong last = dp.lastCommandNanos();
        return new DeviceStatus(id, domainName, ours, Optional.of(dp.instance().status()), dp.served(),
                last.isPresent() ? Optional.of(Duration.ofNanos(now - last.getAsLong())) : Optional.empty());
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
        DeviceNodes.Look look = nodes.look();
        if (!look.backendExists()) {
            LOG.log(System.Logger.Level.INFO, "{0}: backend directory removed", id);
            releaseRing();
            parked.finishForRemoval();
            resources.instances().unprepare(id.toString());
            remove();
            return;
        }
        XenbusState ours = look.ours();
        XenbusState theirs = look.theirs();
        boolean online = look.online();
        try {
            if (!online) {
                // Only the toolstack takes a device away (online = 0, or the directory removed): save the
                // vTPM before reporting Closed, since libxl destroys the domain right after and the save
                // asks the domain why it went away. A frontend state of 0, garbage or a deleted node is
                // the guest's own doing: that only closes the ring (below), the vTPM stays parked.
                releaseRing();
                parked.finishForRemoval(this::closedDuringSave);
                resources.instances().unprepare(id.toString());
            } else if (failure.failedForGood()) {
                return; // failed for good: the guest's writes are ignored until the toolstack removes the device
            } else if (theirs == XenbusState.CLOSING || theirs == XenbusState.CLOSED) {
                parked.frontendClosed();
            }
            if (online && dataPath != null && (theirs == XenbusState.INITIALISED || theirs == XenbusState.CONNECTED)
                    && ringReplaced()) {
                // The frontend published a new page and port without closing (resume in place): drop
                // the old ring, keep the TPM, and connect to the new one. Connected too: tpmfront moves on from
                // Initialised as soon as it sees us Connected, which we still are, so a re-read that comes late
                // (a loaded dom0) finds it Connected on the new ring; staying on the old one would hang its TPM.
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
            failure.stepFailed(e);
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
                resources.instances().prepare(id.toString(), id.domain(), nodes.backendKey(VtpmKeys.UUID));
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
        dataPath = setup.open(ring, resume, reattach);
        parked.frontendConnected();
        handshakeRestarts.started();
        // The restore signal is consumed with the switch, as xend's _endRestore did: a later reconnect of this
        // frontend must not ask for the (now used) snapshot again.
        if (nodes.switchToConnected(resume)) {
            LOG.log(System.Logger.Level.INFO, "{0}: backend state -> {1}", id, XenbusState.CONNECTED);
        }
        LOG.log(System.Logger.Level.INFO, "{0}: {1} (grant {2}, port {3})", id,
                reattach ? "re-attached to the running frontend" : "connected", ring.grantRefUnsigned(), ring.port());
        turns.serviceRing(); // the frontend may have submitted before we were bound
    }

    /** From the delay thread or the executor: the removal's save overstays, libxl's wait for Closed does not. */
    private void closedDuringSave() {
        LOG.log(System.Logger.Level.WARNING, "{0}: the removal''s save of the vTPM has taken over {1} s (is its swtpm hung?);"
                + " reporting Closed now, within the toolstack''s 10 s; the save goes on", id, ClosedOnTime.DEADLINE.toSeconds());
        switchState(XenbusState.CLOSED);
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
                LOG.log(System.Logger.Level.ERROR, id + ": parking the vTPM failed", e);
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
                resources.instances().unprepare(id.toString()); // nothing in it to hand over: the next daemon spawns again
            } finally {
                done.run();
            }
        });
    }
}
