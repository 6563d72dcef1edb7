package org.vtpmback.backend.engine;

import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A checked {@link SwtpmSurvivor} offered to the new daemon: taken over as it runs (the guest's TPM
 * needs neither a restart nor a restore: what a daemon restart costs a guest is then only the time
 * the daemon itself takes to start) or stopped. The launcher keeps it from the stray sweep until
 * it is stopped.
 */
final class LiveSwtpm implements SurvivingEngine {
    private final SwtpmSurvivor survivor;
    private final SwtpmConfig config;
    private final SwtpmRuntimeFiles files;
    /** The name its log is under, if it could be read from its stdout; else the one it is adopted as is assumed. */
    private final Optional<String> logName;
    /** Tells the launcher it is stopped (no longer to be spared by the stray sweep). */
    private final Runnable onStopped;
    private final AtomicBoolean used = new AtomicBoolean();

    LiveSwtpm(SwtpmSurvivor survivor, SwtpmConfig config, SwtpmRuntimeFiles files, Optional<String> logName,
              Runnable onStopped) {
        this.survivor = survivor;
        this.config = config;
        this.files = files;
        this.logName = logName;
        this.onStopped = onStopped;
    }

    @Override
    public long pid() {
        return survivor.pid();
    }

    @Override
    public Optional<StateBlobs> runningState() {
        try {
            return survivor.runningState(config.ctrlTimeout());
        } catch (EngineException e) {
            onStopped.run(); // runningState stopped it
            endLog(true);
            throw e;
        }
    }

    @Override
    public TpmEngine adopt(String name, TpmFamily family) {
        once();
        SwtpmCtrl ctrl = null;
        try {
            if (!survivor.process().isAlive()) {
                throw new EngineException("it exited");
            }
            ctrl = survivor.connectCtrl(name, config.ctrlTimeout());
            SwtpmData data = SwtpmData.connect(SwtpmCommand.dataSocket(survivor.stateDir()), config.responseTimeout());
            // its stdout is the log file the last daemon opened, for the same engine name normally
            SwtpmProcess process = new SwtpmProcess(survivor.process(), files, logName.orElse(name), survivor.uid());
            return SwtpmEngine.adopted(name, family, survivor.stateDir(), process, ctrl, data);
        } catch (IOException | RuntimeException e) {
            if (ctrl != null) {
                ctrl.close();
            }
            survivor.stop();
            onStopped.run();
            endLog(true);
            throw new EngineException("swtpm pid " + survivor.pid() + " on " + survivor.stateDir() + " could not be taken over: "
                    + e.getMessage(), e);
        }
    }

    @Override
    public void stop() {
        once();
        survivor.shutdown(config.ctrlTimeout());
        onStopped.run();
        endLog(false);
    }

    /** Its log, once it is gone: as for every swtpm ({@link SwtpmRuntimeFiles#ended}); unknown, left as it is. */
    private void endLog(boolean failed) {
        logName.ifPresent(n -> files.ended(n, survivor.pid(), failed));
    }

    private void once() {
        if (!used.compareAndSet(false, true)) {
            throw new IllegalStateException("swtpm pid " + survivor.pid() + " was already taken over or stopped");
        }
    }
}
