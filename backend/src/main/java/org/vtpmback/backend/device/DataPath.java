package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.OptionalLong;
import org.vtpmback.backend.engine.ReplyLoop;
import org.vtpmback.backend.instance.ActiveInstance;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;

/**
 * A connected device's data path: the mapped page, the bound port and the vTPM instance. Serves one
 * command at a time (tpmif allows one in flight). Confined to the device's turn, except
 * {@link #abortForRemoval}.
 *
 * <p>Two ways through, both starting with one look at the page ({@link RequestIntake}). The usual one
 * ({@link #serviceHere}, {@link StartedCommand}) costs no thread hand-off: the event-channel reader, having
 * entered the idle device's turn, starts the command in swtpm and the reply loop answers it. The other way
 * ({@link #service}, {@link PooledCommand}) runs the command on the device's executor with the engine's
 * blocking call: for events that found the device busy, and whatever the usual way passes on. This class
 * wires the parts of one ring together and is what the device sees of them; the parts hold the rules
 * ({@link SaveGate}: nothing unsaved is acknowledged; {@link InFlight}: a removal cuts a running command
 * short; {@link GuestAnswers}: every command is answered; {@link BoundRing}: no notification after release).
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

    private final BoundRing ring;
    private final ActiveInstance instance;
    private final ServedCommands served;
    private final SaveGate gate;
    private final InFlight inFlight;
    private final Turn turn;
    private final GuestAnswers answers;
    private final RequestIntake intake;
    private final PooledCommand pooled;
    private final StartedCommand started;
    private final String device;

    DataPath(String device, FrontendRing ring, MappedGrant grant, ActiveInstance instance, Strikes engineRestarts,
             ReplyLoop replies, Turn turn) {
        this.device = device;
        this.turn = turn;
        this.gate = new SaveGate(LOG, device, instance, engineRestarts);
        this.inFlight = new InFlight(LOG, device);
        this.ring = new BoundRing(ring, grant);
        this.instance = instance;
        this.served = new ServedCommands(LOG, device);
        this.answers = new GuestAnswers(LOG, device, this.ring, instance);
        this.intake = new RequestIntake(LOG, device, this.ring, answers);
        this.pooled = new PooledCommand(LOG, device, instance, gate, inFlight, served, answers);
        this.started = new StartedCommand(LOG, device, instance, gate, inFlight, replies, turn, this.ring, intake, answers,
                served, pooled);
    }

    void attachPort(BoundPort port) {
        ring.attachPort(port);
    }

    /**
     * Looks at the page and acts on what the guest asked for, on the device's executor. Called after
     * events that found the device busy and right after connecting: Linux submits its first command
     * before the backend binds, and Xen drops a notification to an unbound port, so the page itself is
     * the source of truth.
     */
    void service() {
        int locality = intake.take();
        if (locality >= 0) {
            answers.answer(() -> pooled.run(intake.copy(locality)));
        }
    }

    /**
     * {@link #service()} on the event-channel reader, which entered the device's idle turn: nothing is
     * handed to another thread unless the command needs more than swtpm's answer ({@link StartedCommand}).
     * The turn ends here, in the reply, or on the executor; whatever fails, the guest gets an answer.
     */
    void serviceHere() {
        boolean passedOn = false;
        try {
            int locality = intake.take();
            passedOn = locality >= 0 && started.start(locality);
        } catch (RuntimeException e) {
            answers.answerFailed(e);
        } finally {
            if (!passedOn) {
                turn.end();
            }
        }
    }

    /**
     * Why the device must be failed, once this data path gave up (too many engine restarts); null
     * while it serves. The device reads it after each {@link #service()}.
     */
    String failure() {
        return gate.failure();
    }

    /** From any thread: see {@link InFlight#abortForRemoval}. */
    void abortForRemoval(Duration grace) {
        inFlight.abortForRemoval(grace);
    }

    long served() {
        return served.served();
    }

    /** When the last command ran (System.nanoTime()), if one has. */
    OptionalLong lastCommandNanos() {
        return served.lastCommandNanos();
    }

    ActiveInstance instance() {
        return instance;
    }

    FrontendRing ring() {
        return ring.ring();
    }

    /**
     * Releases port and page (the guest's resources) and hands back the vTPM instance, still running:
     * whether it is saved and stopped now or reused by a reconnecting frontend is the device's call.
     */
    ActiveInstance releaseRing() {
        try {
            ring.release();
        } catch (RuntimeException e) {
            // Still hand the vTPM back: an instance nobody parks is never saved at teardown nor stopped, and its
            // swtpm would outlive the device. What failed to close stays mapped or bound until the daemon exits.
            LOG.log(System.Logger.Level.ERROR, device + ": giving back the shared page or event channel failed; the vTPM is"
                    + " parked all the same", e);
        }
        return instance;
    }
}
