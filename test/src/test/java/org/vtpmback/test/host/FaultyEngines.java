package org.vtpmback.test.host;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.SurvivingEngine;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * The real swtpm launcher's engines, each passed through a fault wrapper (the identity unless a test injects
 * faults): a new engine and one taken over from a surviving swtpm get the same faults.
 */
final class FaultyEngines implements EngineFactory {
    private final SwtpmLauncher launcher;
    private final UnaryOperator<TpmEngine> wrap;

    FaultyEngines(SwtpmLauncher launcher, UnaryOperator<TpmEngine> wrap) {
        this.launcher = launcher;
        this.wrap = wrap;
    }

    @Override
    public TpmEngine create(String name, TpmFamily family, Path stateDir) {
        return wrap.apply(launcher.create(name, family, stateDir));
    }

    @Override
    public Optional<SurvivingEngine> survivor(Path stateDir) {
        return launcher.survivor(stateDir).map(live -> new SurvivingEngine() {
            @Override
            public long pid() {
                return live.pid();
            }

            @Override
            public Optional<StateBlobs> runningState() {
                return live.runningState();
            }

            @Override
            public TpmEngine adopt(String name, TpmFamily family) {
                return wrap.apply(live.adopt(name, family)); // a taken-over engine gets the same faults
            }

            @Override
            public void stop() {
                live.stop();
            }
        });
    }

    @Override
    public Set<Integer> stopStrays() {
        return launcher.stopStrays();
    }
}
