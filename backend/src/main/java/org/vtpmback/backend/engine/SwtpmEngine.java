package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.vtpmback.backend.ring.TpmRequest;

/**
 * A {@link TpmEngine} backed by one swtpm process, speaking to it over its ctrl and data UNIX
 * sockets. Created by {@link SwtpmLauncher}, which hands over the process and both connections.
 *
 * <p>Supervision: when swtpm dies, breaks the stream or does not answer in time, {@link #execute}
 * answers with the family's failure response and the engine stays dead (logged once, with swtpm's
 * exit code and the tail of its log). Recovery is {@link #close()} plus a new engine from the
 * factory on the same state dir. Confined to the device executor; {@link #abort()}, {@link #isAlive()}
 * and {@link #family()} are safe from any thread (they touch no channel).
 */
public final class SwtpmEngine implements TpmEngine {
    private static final System.Logger LOG = System.getLogger(SwtpmEngine.class.getName());
    private static final int LOCALITY_UNKNOWN = -1;
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(2);
    private static final int LOG_TAIL_LINES = 5;

    private final String name;
    private final TpmFamily family;
    private final Path stateDir;
    private final SwtpmProcess process;
    private final SwtpmCtrl ctrl;
    private final SwtpmData data;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean dead;
    /** What swtpm's global, sticky locality is (trap 4); unknown after every INIT. */
    private int locality = LOCALITY_UNKNOWN;
    /** How a started command's broken stream reaches {@link #markDead} (made once: no allocation per command). */
    private final java.util.function.Consumer<IOException> brokenReply = e -> markDead("a started TPM command", e);

    private SwtpmEngine(String name, TpmFamily family, Path stateDir, SwtpmProcess process, SwtpmCtrl ctrl,
                        SwtpmData data) {
        this.name = name;
        this.family = family;
        this.stateDir = stateDir;
        this.process = process;
        this.ctrl = ctrl;
        this.data = data;
    }

    /** Takes ownership of the running process and both connections. */
    static SwtpmEngine start(String name, TpmFamily family, Path stateDir, SwtpmProcess process, SwtpmCtrl ctrl,
                             SwtpmData data) {
        return supervised(new SwtpmEngine(name, family, stateDir, process, ctrl, data), "started");
    }

    /** As {@link #start}, for a swtpm the last daemon left running with its TPM as the guest left it. */
    static SwtpmEngine adopted(String name, TpmFamily family, Path stateDir, SwtpmProcess process, SwtpmCtrl ctrl,
                               SwtpmData data) {
        return supervised(new SwtpmEngine(name, family, stateDir, process, ctrl, data), "taken over running");
    }

    private static SwtpmEngine supervised(SwtpmEngine engine, String how) {
        engine.process.onExit().thenRun(engine::onProcessExit);
        LOG.log(Level.INFO, "swtpm[{0}] {1} ({2}, {3}, state {4})", engine.name, how, engine.family, engine.process.describe(),
                engine.stateDir);
        return engine;
    }

    @Override
    public byte[] execute(int locality, byte[] command) {
        checkCommand(locality, command.length);
        if (dead || closed.get()) {
            return family.failureResponse();
        }
        try {
            if (locality != this.locality) {
                ctrl.setLocality(locality);
                this.locality = locality;
            }
            return data.transact(command);
        } catch (IOException e) {
            markDead("TPM command 0x" + Integer.toHexString(ByteBuffer.wrap(command).getInt(6)), e);
            return family.failureResponse();
        }
    }

    @Override
    public boolean start(ReplyLoop loop, int locality, ByteBuffer command, Reply reply) {
        checkCommand(locality, command.remaining());
        if (dead || closed.get() || locality != this.locality) {
            return false;
        }
        try {
            return data.start(loop, command, reply, brokenReply);
        } catch (IOException e) {
            markDead("TPM command 0x" + Integer.toHexString(command.getInt(command.position() + 6)), e);
            return false;
        }
    }

    /**
     * Checked at the guest boundary (TpmRequest); kept as preconditions, since a malformed size reaching
     * swtpm would split or merge commands (trap 1).
     */
    private void checkCommand(int locality, int length) {
        if (locality < 0 || locality > TpmRequest.MAX_GUEST_LOCALITY) {
            throw new IllegalArgumentException("swtpm[" + name + "] locality " + locality + " refused: guests may use 0.."
                    + TpmRequest.MAX_GUEST_LOCALITY);
        }
        if (length < SwtpmData.HEADER_SIZE || length > MAX_COMMAND_SIZE) {
            throw new IllegalArgumentException("swtpm[" + name + "] refused a " + length + "-byte command");
        }
    }

    @Override
    public void initClear() {
        ensureOpen();
        // Trap 3: INIT(0) would resume a leftover volatile snapshot instead of booting clear.
        deleteStaleVolatileState();
        ctrlOp("CMD_INIT(0)", () -> ctrl.init(0));
        locality = LOCALITY_UNKNOWN;
    }

    @Override
    public int sendStartupClear() {
        return responseCode(execute(0, family.startupClearCommand()));
    }

    @Override
    public int shutdownOrderly() {
        int rc = responseCode(execute(0, family.orderlyShutdownCommand()));
        if (rc != 0) {
            // e.g. TPM_RC_INITIALIZE when the guest never started the TPM: nothing to make orderly
            LOG.log(Level.DEBUG, "swtpm[{0}] orderly shutdown answered 0x{1}", name, Integer.toHexString(rc));
        }
        return rc;
    }

    @Override
    public StateBlobs saveState(boolean includeVolatile) {
        ensureOpen();
        byte[] permanent = ctrlCall("GET_STATEBLOB(permanent)", () -> ctrl.getStateBlob(SwtpmCtrl.BLOB_PERMANENT));
        Optional<byte[]> vol = includeVolatile
                ? Optional.of(ctrlCall("GET_STATEBLOB(volatile)", () -> ctrl.getStateBlob(SwtpmCtrl.BLOB_VOLATILE)))
                : Optional.empty();
        return new StateBlobs(permanent, vol);
    }

    @Override
    public void restoreState(StateBlobs blobs) {
        ensureOpen();
        // QEMU's incoming sequence (protocol ref 5.4): SET_STATEBLOB needs a stopped TPM, else 0x0a.
        ctrlOp("CMD_STOP", ctrl::stop);
        deleteStaleVolatileState();
        ctrlOp("SET_STATEBLOB(permanent)", () -> ctrl.setStateBlob(SwtpmCtrl.BLOB_PERMANENT, blobs.permanent()));
        if (blobs.volatileState().isPresent()) {
            byte[] vol = blobs.volatileState().get();
            ctrlOp("SET_STATEBLOB(volatile)", () -> ctrl.setStateBlob(SwtpmCtrl.BLOB_VOLATILE, vol));
            ctrlOp("CMD_INIT(DELETE_VOLATILE)", () -> ctrl.init(SwtpmCtrl.INIT_FLAG_DELETE_VOLATILE));
        } else {
            ctrlOp("CMD_INIT(0)", () -> ctrl.init(0));
        }
        locality = LOCALITY_UNKNOWN;
    }

    @Override
    public boolean isAlive() {
        return !dead && !closed.get() && process.isAlive();
    }

    @Override
    public TpmFamily family() {
        return family;
    }

    @Override
    public void abort() {
        LOG.log(Level.WARNING, "swtpm[{0}] killed to end its running command ({1})", name, process.describe());
        process.kill();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        boolean orderly = !dead && process.isAlive();
        if (orderly) {
            try {
                ctrl.shutdown(SHUTDOWN_GRACE);
            } catch (IOException | EngineException e) {
                orderly = false;
                LOG.log(Level.DEBUG, "swtpm[{0}] CMD_SHUTDOWN failed, killing it: {1}", name, e.toString());
            }
        }
        ctrl.close();
        data.close();
        // A dead (hung or broken) swtpm gets no grace: it would only hold the state-dir lock longer.
        process.stop(orderly ? SHUTDOWN_GRACE : Duration.ZERO);
        LOG.log(Level.INFO, "swtpm[{0}] closed ({1})", name, process.describe());
        // a clean end leaves nothing to diagnose; a failed one keeps its log for the operator
        process.ended(!orderly);
    }

    @Override
    public void detach() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        ctrl.close();
        data.close();
        LOG.log(Level.INFO, "swtpm[{0}] left running for the next daemon ({1})", name, process.describe());
    }

    @Override
    public String toString() {
        return "SwtpmEngine[" + name + ", " + family + ", " + process.describe() + (dead ? ", dead" : "") + "]";
    }

    /** For tests: the swtpm process id. */
    long pid() {
        return process.pid();
    }

    @Override
    public java.util.OptionalLong processId() {
        return java.util.OptionalLong.of(process.pid());
    }

    /** For tests: the control channel (same confinement as the engine). */
    SwtpmCtrl ctrl() {
        return ctrl;
    }

    /** For tests: the data channel (same confinement as the engine). */
    SwtpmData data() {
        return data;
    }

    /** Runs on the one process-exits thread (ProcessExits) whenever swtpm exits, so even an idle death is logged. */
    private void onProcessExit() {
        if (closed.get()) {
            return;
        }
        dead = true;
        LOG.log(Level.WARNING, "swtpm[{0}] exited unexpectedly ({1}); log: {2}", name, process.describe(),
                process.logTail(LOG_TAIL_LINES));
    }

    private synchronized void markDead(String during, Exception cause) {
        if (dead) {
            return;
        }
        dead = true;
        if (closed.get()) {
            // close() from another thread cut the in-flight command short: expected, not a failure
            LOG.log(Level.DEBUG, "swtpm[{0}] {1} interrupted by close: {2}", name, during, cause.toString());
            return;
        }
        LOG.log(Level.WARNING, "swtpm[{0}] lost during {1}: {2} ({3}); log: {4}", name, during, cause.toString(),
                process.describe(), process.logTail(LOG_TAIL_LINES));
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("swtpm[" + name + "] engine is closed");
        }
        if (dead) {
            throw new EngineException("swtpm[" + name + "] is dead (" + process.describe() + "): create a new engine");
        }
    }

    private void deleteStaleVolatileState() {
        Path stale = stateDir.resolve(family.volatileStateFile());
        try {
            if (Files.deleteIfExists(stale)) {
                LOG.log(Level.INFO, "swtpm[{0}] removed stale {1}", name, stale);
            }
        } catch (IOException e) {
            throw new EngineException("swtpm[" + name + "] cannot remove " + stale, e);
        }
    }

    private interface CtrlAction {
        void run() throws IOException;
    }

    private interface CtrlCall<T> {
        T call() throws IOException;
    }

    private void ctrlOp(String what, CtrlAction action) {
        ctrlCall(what, () -> {
            action.run();
            return null;
        });
    }

    private <T> T ctrlCall(String what, CtrlCall<T> call) {
        try {
            return call.call();
        } catch (IOException e) {
            markDead(what, e);
            throw new EngineException("swtpm[" + name + "] " + what + ": swtpm unreachable", e);
        }
    }

    private static int responseCode(byte[] response) {
        return ByteBuffer.wrap(response).getInt(6);
    }
}
