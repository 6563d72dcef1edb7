package org.vtpmback.backend.device;

import java.time.Duration;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.ring.GuestProtocolException;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.ring.TpmRequest;
import org.vtpmback.backend.ring.TpmResponses;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;

/**
 * A connected device's data path: the mapped page, the bound port and the vTPM instance. Serves one
 * command at a time (tpmif allows one in flight). Confined to the device's serial executor, except
 * {@link #abortForRemoval} and {@link #commandRunning}.
 */
final class DataPath {
    private static final System.Logger LOG = System.getLogger(DataPath.class.getName());

    private final String device;
    private final FrontendRing ring;
    private final MappedGrant grant;
    private final SharedPage page;
    private final ActiveInstance instance;
    private BoundPort port;
    /** Written by the device's executor only; volatile for status output read from another thread. */
    private volatile long served;
    /** System.nanoTime() after the last command, or 0 before the first; for status output. */
    private volatile long lastCommandNanos;
    private final EngineRestarts engineRestarts;
    /** The engine a command is running in, or null; read by {@link #abortForRemoval} from another thread. */
    private volatile TpmEngine running;
    /** The toolstack is removing the device: refuse commands, never restart the engine. */
    private volatile boolean removing;

    DataPath(String device, FrontendRing ring, MappedGrant grant, ActiveInstance instance, Strikes engineRestarts) {
        this.device = device;
        this.engineRestarts = new EngineRestarts(LOG, device, instance, engineRestarts);
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
        } catch (GuestProtocolException e) {
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
        } catch (GuestProtocolException e) {
            // The one check of what the guest put on the page: what gets past it, the engine trusts.
            LOG.log(System.Logger.Level.WARNING, "{0}: refused request: {1}", device, e.getMessage());
            return TpmResponses.refusal(e.refusal(), isTpm2());
        }
        if (instance.savePending() && !saveAgain()) {
            return failureResponse();
        }
        if (!instance.engine().isAlive()) {
            // swtpm died while idle: this command learns that the TPM failed (its volatile state is
            // gone), the next one runs on the restarted engine. While backing off, nothing restarts
            // and every command is answered at once, never queued.
            engineRestarts.restart();
            return failureResponse();
        }
        TpmEngine engine = instance.engine();
        long start = System.nanoTime();
        byte[] response;
        running = engine;
        try {
            if (removing) {
                return failureResponse(); // checked after publishing running: abortForRemoval sees one or the other
            }
            response = engine.execute(request.locality(), request.command());
        } catch (EngineException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: command refused by the engine: {1}", device, e.getMessage());
            return failureResponse();
        } finally {
            synchronized (this) {
                running = null;
                notifyAll();
            }
        }
        long executed = System.nanoTime();
        served++; // single writer: the device's executor
        lastCommandNanos = executed;
        if (!engine.isAlive()) {
            // Its answer may be real (swtpm exited right after answering) but its change was never
            // saved, and the restart below loads the last saved state: never acknowledge it.
            if (!removing) {
                engineRestarts.restart();
            }
            return failureResponse();
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
            engineLost();
            return false;
        }
    }

    /** Retries the pending save; while it fails every command is refused, so nothing unsaved is ever acknowledged. */
    private boolean saveAgain() {
        if (engineLost()) {
            // The pending change died with swtpm (the guest was told it failed); the engine now runs on
            // the last saved state, which is durable by definition.
            LOG.log(System.Logger.Level.WARNING, "{0}: swtpm died with an unsaved change (answered as failed);"
                    + " serving from the last saved state", device);
            return instance.engine().isAlive();
        }
        try {
            instance.afterCommand();
            LOG.log(System.Logger.Level.INFO, "{0}: the vTPM state is saved again; serving commands", device);
            return true;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: the vTPM state still cannot be saved: {1}; command refused",
                    device, message(e));
            engineLost();
            return false;
        }
    }

    /**
     * After a failed save: if swtpm died meanwhile, its unsaved change died with it (and the guest was
     * told the command failed), so the engine restarts from the last durable state (which clears the
     * instance's pending save).
     */
    private boolean engineLost() {
        if (instance.engine().isAlive()) {
            return false;
        }
        engineRestarts.restart();
        return true;
    }

    /**
     * Why the device must be failed, once this data path gave up (too many engine restarts); null
     * while it serves. The device reads it after each {@link #service()}.
     */
    String failure() {
        return engineRestarts.failure();
    }

    /** True while a command is inside the engine. Any thread. */
    boolean commandRunning() {
        return running != null;
    }

    /**
     * From any thread, when the toolstack is removing the device: new commands are refused, the one
     * in the engine gets {@code grace} to finish, then its swtpm is killed so that it ends now (its
     * guest gets a failure response; the engine is closed later, on the device's executor) instead
     * of holding the removal behind a hung swtpm: libxl waits only 10 s for Closed. The engine is not
     * restarted; the removal saves what is left.
     */
    void abortForRemoval(Duration grace) {
        removing = true;
        TpmEngine stuck;
        synchronized (this) {
            long deadline = System.nanoTime() + grace.toNanos();
            long left;
            while (running != null && (left = deadline - System.nanoTime()) > 0) {
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            stuck = running;
        }
        if (stuck != null) {
            LOG.log(System.Logger.Level.WARNING, "{0}: the device is being removed while a command has run for over {1} s;"
                    + " killing its swtpm so that the removal does not wait for it", device, grace.toSeconds());
            stuck.abort();
        }
    }

    private byte[] failureResponse() {
        return TpmResponses.failure(isTpm2());
    }

    private static String message(RuntimeException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    private static int word(byte[] packet, int offset) {
        return packet.length >= offset + 4 ? java.nio.ByteBuffer.wrap(packet, offset, 4).getInt() : -1;
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

    /** When the last command ran (System.nanoTime()), if one has. */
    java.util.OptionalLong lastCommandNanos() {
        long t = lastCommandNanos;
        return t == 0 ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(t);
    }

    ActiveInstance instance() {
        return instance;
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
