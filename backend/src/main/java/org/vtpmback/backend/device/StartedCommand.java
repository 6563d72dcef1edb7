package org.vtpmback.backend.device;

import java.nio.ByteBuffer;
import org.vtpmback.backend.engine.Reply;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.ring.TpmRequest;

/**
 * The data path's usual way, with no thread hand-off: the event-channel reader, holding the idle device's
 * turn, sends the request to swtpm without waiting; the {@link ReplyLoop}'s thread gets the answer, writes it
 * to the page, ends the turn and notifies the guest. Neither thread ever waits for a swtpm, so one guest's
 * slow command delays no other guest. Whatever needs more than swtpm's answer (a checkpoint after a state
 * change, a lost engine, and before the start a pending save, a removal, a dead engine or a locality
 * change) continues on the device's executor through {@link PooledCommand}, with the request already copied:
 * the page is read once either way.
 *
 * <p>Confined to the device's turn, which passes from the reader to the reply loop's thread with the command.
 */
final class StartedCommand {
    private final System.Logger log;
    private final String device;
    private final ActiveInstance instance;
    private final SaveGate gate;
    private final InFlight inFlight;
    private final ReplyLoop replies;
    private final DataPath.Turn turn;
    private final BoundRing ring;
    private final RequestIntake intake;
    private final GuestAnswers answers;
    private final ServedCommands served;
    private final PooledCommand pooled;
    /** Where a started command's answer goes; made once. */
    private final Reply onReply = this::replied;
    /** When the command in flight started, for the debug line; set only while debug logging is on. */
    private long startedNanos;

    /** @param log the data path's logger (its lines are the device's) */
    StartedCommand(System.Logger log, String device, ActiveInstance instance, SaveGate gate, InFlight inFlight,
                   ReplyLoop replies, DataPath.Turn turn, BoundRing ring, RequestIntake intake, GuestAnswers answers,
                   ServedCommands served, PooledCommand pooled) {
        this.log = log;
        this.device = device;
        this.instance = instance;
        this.gate = gate;
        this.inFlight = inFlight;
        this.replies = replies;
        this.turn = turn;
        this.ring = ring;
        this.intake = intake;
        this.answers = answers;
        this.served = served;
        this.pooled = pooled;
    }

    /**
     * On the reader, with the request just taken: sends it to swtpm without waiting when nothing else is
     * needed first; else the command continues on the executor. Returns true: the turn went on, to the
     * reply or to the executor.
     */
    boolean start(int locality) {
        TpmEngine engine = instance.engine();
        if (instance.savePending() || inFlight.removing() || !engine.isAlive() || !inFlight.enter(engine)) {
            continueOnPool(locality); // the gate's cases, and a removal: on the executor
            return true;
        }
        boolean started = false;
        try {
            if (log.isLoggable(System.Logger.Level.DEBUG)) {
                startedNanos = System.nanoTime();
            }
            started = engine.start(replies, locality, intake.request(), onReply);
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
        TpmRequest taken = intake.copy(locality);
        turn.continueOnPool(() -> answers.answer(() -> pooled.run(taken)));
    }

    /**
     * On the reply loop's thread: swtpm answered (or failed: null). The usual answer goes straight to the
     * page; a state change to save, or a lost engine, continue on the executor before the guest hears.
     */
    private void replied(ByteBuffer received) {
        TpmEngine engine = inFlight.engine();
        inFlight.leave();
        // Counted as PooledCommand counts: a command swtpm answered, not one its engine lost.
        long executed = received == null ? 0 : served.executed();
        boolean passedOn = false;
        boolean ended = false;
        try {
            if (received == null || !engine.isAlive()) {
                turn.continueOnPool(() -> answers.answer(() -> {
                    gate.lost(inFlight.removing());
                    return answers.failure();
                }));
                passedOn = true;
            } else if (instance.checkpointNeeded()) {
                byte[] response = new byte[received.remaining()];
                received.get(received.position(), response);
                turn.continueOnPool(() -> answers.answer(() ->
                        gate.acknowledge(engine, inFlight.removing()) ? logged(response, executed) : answers.failure()));
                passedOn = true;
            } else {
                served.logDebug(intake.request(), received.getInt(received.position() + 6), received.remaining(),
                        startedNanos, executed);
                ring.page().writeResponse(received);
                // The turn ends before the guest hears: its next command, often sent at once, then finds the
                // device idle instead of queueing on the pool behind the end of this one.
                ended = true;
                turn.end();
                ring.notifyAfterTurn();
            }
        } catch (RuntimeException e) {
            if (ended) {
                log.log(System.Logger.Level.ERROR, device + ": notifying the guest of its answer failed", e);
            } else {
                log.log(System.Logger.Level.ERROR, device + ": answering a command failed; answering with a TPM failure", e);
                ring.respond(answers.failure());
            }
        } finally {
            if (!passedOn && !ended) {
                turn.end();
            }
        }
    }

    private byte[] logged(byte[] response, long executed) {
        served.logDebug(intake.request(), ServedCommands.word(response, 6), response.length, startedNanos, executed);
        return response;
    }
}
