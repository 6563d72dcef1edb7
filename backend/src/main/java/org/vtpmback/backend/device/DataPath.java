package org.vtpmback.backend.device;

import java.nio.ByteBuffer;
import java.time.Duration;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.Reply;
import org.vtpmback.backend.engine.ReplyLoop;
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
 * command at a time (tpmif allows one in flight). Confined to the device's turn, except
 * {@link #abortForRemoval} and {@link #commandRunning}.
 *
 * <p>Two ways through. The usual one ({@link #serviceHere}) costs no thread hand-off: the event-channel
 * reader, having entered the idle device's turn, copies the request into this ring's buffer, checks it and
 * sends it to swtpm without waiting; the {@link ReplyLoop}'s thread gets the answer, writes it to the page,
 * notifies the guest and ends the turn. Neither thread ever waits for a swtpm, so one guest's slow command
 * delays no other guest. Whatever needs more than that (a checkpoint after a state change, an engine
 * restart, a save still pending, a locality change, a removal) continues on the device's executor with the
 * request already copied: the page is read once either way. The other way ({@link #service}) is the same
 * on the executor, with the engine's blocking call: for events that found the device busy.
 */
final class DataPath {
    private static final System.Logger LOG = System.getLogger(DataPath.class.getName());

    /** How a turn the data path holds off the pool goes on ({@link SerialExecutor#tryEnter}). */
    interface Turn {
        /** The command is answered, or there was none: the device's next task may run. */
        void end();

        /** The rest runs on the device's executor, in the same turn, before anything queued. */
        void continueOnPool(Runnable rest);
    }

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
    private final SaveGate gate;
    private final InFlight inFlight;
    private final ReplyLoop replies;
    private final Turn turn;
    /** This ring's request, copied off the page: reused by every command, so none allocates. */
    private final ByteBuffer request = ByteBuffer.allocateDirect(SharedPage.MAX_PAYLOAD);
    /** Guards the port between a notification sent after the turn ended and {@link #releaseRing}. */
    private final Object portLock = new Object();
    /** Set by {@link #releaseRing} under {@link #portLock}. */
    private boolean released;
    /** Where a started command's answer goes; made once. */
    private final Reply onReply = this::replied;
    /** When the command in flight started, for the debug line; set only while debug logging is on. */
    private long startedNanos;

    DataPath(String device, FrontendRing ring, MappedGrant grant, ActiveInstance instance, Strikes engineRestarts,
             ReplyLoop replies, Turn turn) {
        this.device = device;
        this.replies = replies;
        this.turn = turn;
        this.gate = new SaveGate(LOG, device, instance, engineRestarts);
        this.inFlight = new InFlight(LOG, device);
        this.ring = ring;
        this.grant = grant;
        this.page = new SharedPage(grant.page());
        this.instance = instance;
    }

    void attachPort(BoundPort port) {
        this.port = port;
    }

    /**
     * Looks at the page and acts on what the guest asked for, on the device's executor. Called after
     * events that found the device busy and right after connecting: Linux submits its first command
     * before the backend binds, and Xen drops a notification to an unbound port, so the page itself is
     * the source of truth.
     */
    void service() {
        int locality = take();
        if (locality >= 0) {
            answer(() -> run(copyOfRequest(locality)));
        }
    }

    /**
     * {@link #service()} on the event-channel reader, which entered the device's idle turn: nothing is
     * handed to another thread unless the command needs more than swtpm's answer (see the class comment).
     * The turn ends here, in the reply, or on the executor; whatever fails, the guest gets an answer.
     */
    void serviceHere() {
        boolean passedOn = false;
        try {
            int locality = take();
            passedOn = locality >= 0 && startHere(locality);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, device + ": command failed; answering with a TPM failure", e);
            respond(failureResponse());
        } finally {
            if (!passedOn) {
                turn.end();
            }
        }
    }

    /**
     * Reads the page once: for a well-formed request, copies it into {@link #request} and returns its
     * locality; anything else (no request, a cancel, a refused request) is dealt with here, and -1 returned.
     */
    private int take() {
        PageState state;
        try {
            state = page.state();
        } catch (GuestProtocolException e) {
            // A state byte tpmif.h does not define: ignored like a spurious wake-up, the page left alone.
            LOG.log(System.Logger.Level.WARNING, "{0}: ignoring the shared page: {1}", device, e.getMessage());
            return -1;
        }
        if (state == PageState.CANCEL) {
            // Nothing runs between two looks at the page, so a cancel always finds us idle.
            LOG.log(System.Logger.Level.DEBUG, "{0}: guest cancelled; acknowledged with IDLE", device);
            page.acknowledgeCancel();
            port.notifyRemote();
            return -1;
        }
        if (state != PageState.SUBMIT) {
            return -1; // IDLE, FINISH: a spurious wake-up, nothing to do
        }
        try {
            return page.takeRequest(request);
        } catch (GuestProtocolException e) {
            // The one check of what the guest put on the page: what gets past it, the engine trusts.
            LOG.log(System.Logger.Level.WARNING, "{0}: refused request: {1}", device, e.getMessage());
            respond(TpmResponses.refusal(e.refusal(), isTpm2()));
            return -1;
        }
    }

    /**
     * Sends the request to swtpm without waiting when nothing else is needed first; else the command
     * continues on the executor. Returns true: the turn went on, to the reply or to the executor.
     */
    private boolean startHere(int locality) {
        TpmEngine engine = instance.engine();
        if (instance.savePending() || inFlight.removing() || !engine.isAlive() || !inFlight.enter(engine)) {
            continueOnPool(locality); // the gate's cases, and a removal: on the executor
            return true;
        }
        boolean started = false;
        try {
            if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
                startedNanos = System.nanoTime();
            }
            started = engine.start(replies, locality, request, onReply);
        } finally {
            if (!started) {
                inFlight.leave();
            }
        }
        if (!started) {
            continueOnPool(locality); // a locality change, a dead engine: the executor's way deals with it
        }
        return true;
    }

    private void continueOnPool(int locality) {
        TpmRequest taken = copyOfRequest(locality);
        turn.continueOnPool(() -> answer(() -> run(taken)));
    }

    /**
     * On the reply loop's thread: swtpm answered (or failed: null). The usual answer goes straight to the
     * page; a state change to save, or a lost engine, continue on the executor before the guest hears.
     */
    private void replied(ByteBuffer received) {
        TpmEngine engine = inFlight.engine();
        inFlight.leave();
        long executed = System.nanoTime();
        served++; // one writer at a time: whoever holds the device's turn
        lastCommandNanos = executed;
        boolean passedOn = false;
        boolean ended = false;
        try {
            if (received == null || !engine.isAlive()) {
                turn.continueOnPool(() -> answer(() -> {
                    gate.lost(inFlight.removing());
                    return failureResponse();
                }));
                passedOn = true;
            } else if (instance.checkpointNeeded()) {
                byte[] response = new byte[received.remaining()];
                received.get(received.position(), response);
                turn.continueOnPool(() -> answer(() ->
                        gate.acknowledge(engine, inFlight.removing()) ? logged(response, executed) : failureResponse()));
                passedOn = true;
            } else {
                logDebug(request, received.getInt(received.position() + 6), received.remaining(), startedNanos, executed);
                page.writeResponse(received);
                // The turn ends before the guest hears: its next command, often sent at once, then finds the
                // device idle instead of queueing on the pool behind the end of this one.
                ended = true;
                turn.end();
                notifyGuest();
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, device + ": answering a command failed; answering with a TPM failure", e);
            if (!ended) {
                respond(failureResponse());
            }
        } finally {
            if (!passedOn && !ended) {
                turn.end();
            }
        }
    }

    /**
     * Notifies the guest after the turn ended, when the device's executor may already be releasing the
     * ring: under {@link #portLock}, and not once the port is closed (a port number reused by another
     * binding must not get this guest's notification).
     */
    private void notifyGuest() {
        synchronized (portLock) {
            if (!released) {
                port.notifyRemote();
            }
        }
    }

    /** Runs a command's rest and answers what it returns, or a failure if it throws: silence would hang the guest's driver. */
    private void answer(java.util.function.Supplier<byte[]> command) {
        byte[] response;
        try {
            response = command.get();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, device + ": command failed; answering with a TPM failure", e);
            response = failureResponse();
        }
        respond(response);
    }

    private byte[] logged(byte[] response, long executed) {
        logDebug(request, word(response, 6), response.length, startedNanos, executed);
        return response;
    }

    private TpmRequest copyOfRequest(int locality) {
        byte[] command = new byte[request.remaining()];
        request.get(request.position(), command);
        return new TpmRequest(locality, command);
    }

    /** A command on the executor: the engine's blocking call, with the gate's checks before and after. */
    private byte[] run(TpmRequest request) {
        if (!gate.admit()) {
            return failureResponse();
        }
        TpmEngine engine = instance.engine();
        long start = System.nanoTime();
        byte[] response;
        if (!inFlight.enter(engine)) {
            return failureResponse();
        }
        try {
            response = engine.execute(request.locality(), request.command());
        } catch (EngineException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: command refused by the engine: {1}", device, e.getMessage());
            return failureResponse();
        } finally {
            inFlight.leave();
        }
        long executed = System.nanoTime();
        served++; // one writer at a time: whoever holds the device's turn
        lastCommandNanos = executed;
        if (!gate.acknowledge(engine, inFlight.removing())) {
            return failureResponse();
        }
        logDebug(ByteBuffer.wrap(request.command()), word(response, 6), response.length, start, executed);
        return response;
    }

    private void logDebug(ByteBuffer command, int rc, int responseLength, long start, long executed) {
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, String.format("%s: command %d ordinal 0x%08x (%d bytes) -> rc 0x%x"
                    + " (%d bytes) in %.1f ms + %.1f ms persisting", device, served, command.getInt(command.position() + 6),
                    command.remaining(), rc, responseLength, (executed - start) / 1e6, (System.nanoTime() - executed) / 1e6));
        }
    }

    /**
     * Why the device must be failed, once this data path gave up (too many engine restarts); null
     * while it serves. The device reads it after each {@link #service()}.
     */
    String failure() {
        return gate.failure();
    }

    /** True while a command is inside the engine. Any thread. */
    boolean commandRunning() {
        return inFlight.commandRunning();
    }

    /** From any thread: see {@link InFlight#abortForRemoval}. */
    void abortForRemoval(Duration grace) {
        inFlight.abortForRemoval(grace);
    }

    private byte[] failureResponse() {
        return TpmResponses.failure(isTpm2());
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
            synchronized (portLock) {
                released = true;
                if (port != null) {
                    port.close();
                }
            }
        } finally {
            grant.close();
        }
        return instance;
    }
}
