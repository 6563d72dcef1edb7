package org.vtpmback.backend.device;

import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.ring.MalformedRequestException;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.ring.TpmRequest;
import org.vtpmback.backend.ring.TpmResponses;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;

/**
 * A connected device's data path: the mapped page, the bound port and the vTPM instance. Serves one
 * command at a time (tpmif allows one in flight). Confined to the device's serial executor.
 */
final class DataPath {
    private static final System.Logger LOG = System.getLogger(DataPath.class.getName());
    /** TPM_RC_LOCALITY (TPM 2.0) and TPM_BAD_LOCALITY (1.2): what a real TPM answers for a bad locality. */
    private static final int TPM2_RC_LOCALITY = 0x907;
    private static final int TPM12_BAD_LOCALITY = 0x3d;
    /** TPM_RC_COMMAND_SIZE / TPM_BAD_PARAM_SIZE, for requests the page codec refuses. */
    private static final int TPM2_RC_COMMAND_SIZE = 0x142;
    private static final int TPM12_BAD_PARAM_SIZE = 0x19;

    private final String device;
    private final FrontendRing ring;
    private final MappedGrant grant;
    private final SharedPage page;
    private final ActiveInstance instance;
    private BoundPort port;
    private long served;
    /** A state change the guest was told failed is not durable yet: commands are refused until it is. */
    private boolean unsaved;

    DataPath(String device, FrontendRing ring, MappedGrant grant, ActiveInstance instance) {
        this.device = device;
        this.ring = ring;
        this.grant = grant;
        this.page = new SharedPage(grant.page());
        this.instance = instance;
    }

    void attachPort(BoundPort port) {
        this.port = port;
    }

    /**
     * Looks at the page and acts on what the guest asked for. Called after every event and right
     * after connecting: Linux submits its first command before the backend binds, and Xen drops a
     * notification to an unbound port, so the page itself is the source of truth.
     */
    void service() {
        PageState state;
        try {
            state = page.state();
        } catch (MalformedRequestException e) {
            // A state byte tpmif.h does not define: ignored like a spurious wake-up, the page left alone.
            LOG.log(System.Logger.Level.WARNING, "{0}: ignoring the shared page: {1}", device, e.getMessage());
            return;
        }
        if (state == PageState.SUBMIT) {
            byte[] response;
            try {
                response = run();
            } catch (RuntimeException e) {
                // Whatever went wrong, the guest gets an answer: silence would hang its driver until its own timeout.
                LOG.log(System.Logger.Level.ERROR, device + ": command failed; answering with a TPM failure", e);
                response = failureResponse();
            }
            respond(response);
        } else if (state == PageState.CANCEL) {
            // Nothing runs between two service() calls, so a cancel always finds us idle.
            LOG.log(System.Logger.Level.DEBUG, "{0}: guest cancelled; acknowledged with IDLE", device);
            page.acknowledgeCancel();
            port.notifyRemote();
        }
        // IDLE, FINISH and unknown values: a spurious wake-up, nothing to do.
    }

    private byte[] run() {
        TpmRequest request;
        try {
            request = page.takeRequest();
        } catch (MalformedRequestException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: refused request: {1}", device, e.getMessage());
            return isTpm2() ? TpmResponses.tpm2Error(TPM2_RC_COMMAND_SIZE) : TpmResponses.tpm12Error(TPM12_BAD_PARAM_SIZE);
        }
        if (request.locality() > 3) {
            LOG.log(System.Logger.Level.WARNING, "{0}: refused command at locality {1}: guests may use 0-3 only",
                    device, request.locality());
            return isTpm2() ? TpmResponses.tpm2Error(TPM2_RC_LOCALITY) : TpmResponses.tpm12Error(TPM12_BAD_LOCALITY);
        }
        if (unsaved && !saveAgain()) {
            return failureResponse();
        }
        TpmEngine engine = instance.engine();
        long start = System.nanoTime();
        byte[] response;
        try {
            response = engine.execute(request.locality(), request.command());
        } catch (EngineException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: command refused by the engine: {1}", device, e.getMessage());
            return engine.family().failureResponse();
        }
        long executed = System.nanoTime();
        served++;
        if (!engine.isAlive()) {
            recoverEngine(); // the engine already answered with its failure response
        } else if (!persist()) {
            return failureResponse();
        }
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, String.format("%s: command %d ordinal 0x%08x (%d bytes, locality %d) -> rc 0x%x"
                    + " (%d bytes) in %.1f ms + %.1f ms persisting", device, served, word(request.command(), 6),
                    request.command().length, request.locality(), word(response, 6), response.length,
                    (executed - start) / 1e6, (System.nanoTime() - executed) / 1e6));
        }
        return response;
    }

    /**
     * Persists NV and key changes before the guest sees the answer. When the save fails (disk full,
     * I/O error, swtpm lost while handing over its state) the guest is told the command failed, and
     * the change stays pending: {@link #saveAgain()} retries it before any later command runs.
     */
    private boolean persist() {
        try {
            instance.afterCommand();
            return true;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "{0}: saving the vTPM state failed: {1}; answering with a TPM failure"
                    + " and refusing commands until the state is saved", device, message(e));
            unsaved = !engineLost();
            return false;
        }
    }

    /** Retries the pending save; while it fails every command is refused, so nothing unsaved is ever acknowledged. */
    private boolean saveAgain() {
        try {
            instance.afterCommand();
            unsaved = false;
            LOG.log(System.Logger.Level.INFO, "{0}: the vTPM state is saved again; serving commands", device);
            return true;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: the vTPM state still cannot be saved: {1}; command refused",
                    device, message(e));
            unsaved = !engineLost();
            return false;
        }
    }

    /**
     * After a failed save: if swtpm died meanwhile, its unsaved change died with it (and the guest was
     * told the command failed), so the engine restarts from the last durable state.
     */
    private boolean engineLost() {
        if (instance.engine().isAlive()) {
            return false;
        }
        recoverEngine();
        return true;
    }

    private byte[] failureResponse() {
        return instance.engine().family().failureResponse();
    }

    private static String message(RuntimeException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    private static int word(byte[] packet, int offset) {
        return packet.length >= offset + 4 ? java.nio.ByteBuffer.wrap(packet, offset, 4).getInt() : -1;
    }

    private void recoverEngine() {
        LOG.log(System.Logger.Level.ERROR, "{0}: TPM engine died; answered the command with a TPM failure and restarting it", device);
        try {
            instance.restartEngine();
            LOG.log(System.Logger.Level.INFO, "{0}: TPM engine restarted", device);
        } catch (RuntimeException e) {
            // Leave the dead engine in place: each later command gets a failure response, none hangs.
            LOG.log(System.Logger.Level.ERROR, device + ": TPM engine restart failed", e);
        }
    }

    private boolean isTpm2() {
        return instance.engine().family() == org.vtpmback.backend.engine.TpmFamily.TPM2;
    }

    private void respond(byte[] response) {
        page.writeResponse(response);
        port.notifyRemote();
    }

    long served() {
        return served;
    }

    FrontendRing ring() {
        return ring;
    }

    /**
     * Releases port and page (the guest's resources) and hands back the vTPM instance, still running:
     * whether it is saved and stopped now or reused by a reconnecting frontend is the device's call.
     */
    ActiveInstance releaseRing() {
        try {
            if (port != null) {
                port.close();
            }
        } finally {
            grant.close();
        }
        return instance;
    }
}
