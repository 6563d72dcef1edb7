package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.instance.ActivationRequest;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;
import org.vtpmback.xen.DomainId;

/**
 * Builds a device's data path for a ring the frontend published, taking its resources in order: the
 * guest's page mapped, the vTPM (the parked one if the backend still names it, else activated), the event
 * channel bound. When a step fails, what the earlier ones took is given back before the failure goes on:
 * the page unmapped, a running vTPM parked, never lost. Also keeps the device's engine-restart strikes,
 * which every ring's data path shares, so a reconnect does not reset them. Confined to the device's executor.
 */
final class DataPathSetup {
    /** Engine restarts after swtpm died: waits of 1, 2, 4, 8 s between them, one forgiven per 5 minutes. */
    static final int ENGINE_RESTART_LIMIT = 5;

    private final DeviceId id;
    private final DeviceNodes nodes;
    private final DeviceResources resources;
    private final ParkedInstance parked;
    /** Where started TPM commands are answered (shared by all devices). */
    private final ReplyLoop replies;
    private final DataPathTurns turns;
    private final Strikes engineRestarts = new Strikes(ENGINE_RESTART_LIMIT, Duration.ofSeconds(1),
            Duration.ofSeconds(8), Duration.ofMinutes(5));

    DataPathSetup(DeviceId id, DeviceNodes nodes, DeviceResources resources, ParkedInstance parked, ReplyLoop replies,
                  DataPathTurns turns) {
        this.id = id;
        this.nodes = nodes;
        this.resources = resources;
        this.parked = parked;
        this.replies = replies;
        this.turns = turns;
    }

    /**
     * Maps {@code ring}'s page, takes or activates the vTPM and binds the port; the result is ready to serve.
     *
     * @param resume   the backend key {@code resume} says this is a restore
     * @param reattach the backend was already Connected: the daemon restarted under a live guest
     */
    DataPath open(FrontendRing ring, boolean resume, boolean reattach) {
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
        DataPath path = new DataPath(id.toString(), ring, grant, instance, engineRestarts, replies, turns);
        try {
            BoundPort port = resources.eventChannels().bind(id.frontendDomid(), ring.port(), p -> turns.onEvent());
            path.attachPort(port);
        } catch (RuntimeException e) {
            parked.park(path.releaseRing());
            throw e;
        }
        return path;
    }
}
