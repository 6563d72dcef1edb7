package org.vtpmback.backend.device;

import java.nio.ByteBuffer;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.ring.TpmRequest;

/**
 * A command run on the device's executor, with the engine's blocking call between the save gate's checks:
 * for a notification that found the device busy, the look at the page right after connecting, and every
 * command the reader's way passes on because it needs more first (a save still pending, an engine restart, a
 * locality change, a removal). Kept apart from {@link StartedCommand} because it may block for as long as
 * swtpm takes, which only a pool thread may. Confined to the device's executor.
 */
final class PooledCommand {
    private final System.Logger log;
    private final String device;
    private final ActiveInstance instance;
    private final SaveGate gate;
    private final InFlight inFlight;
    private final ServedCommands served;
    private final GuestAnswers answers;

    /** @param log the data path's logger (its lines are the device's) */
    PooledCommand(System.Logger log, String device, ActiveInstance instance, SaveGate gate, InFlight inFlight,
                  ServedCommands served, GuestAnswers answers) {
        this.log = log;
        this.device = device;
        this.instance = instance;
        this.gate = gate;
        this.inFlight = inFlight;
        this.served = served;
        this.answers = answers;
    }

    /** Runs the command: the engine's blocking call, with the gate's checks before and after. Returns its answer. */
    byte[] run(TpmRequest request) {
        if (!gate.admit()) {
            return answers.failure();
        }
        TpmEngine engine = instance.engine();
        long start = System.nanoTime();
        byte[] response;
        if (!inFlight.enter(engine)) {
            return answers.failure();
        }
        try {
            response = engine.execute(request.locality(), request.command());
        } catch (EngineException e) {
            log.log(System.Logger.Level.WARNING, "{0}: command refused by the engine: {1}", device, e.getMessage());
            return answers.failure();
        } finally {
            inFlight.leave();
        }
        long executed = served.executed();
        if (!gate.acknowledge(engine, inFlight.removing())) {
            return answers.failure();
        }
        served.logDebug(ByteBuffer.wrap(request.command()), ServedCommands.word(response, 6), response.length, start, executed);
        return response;
    }
}
