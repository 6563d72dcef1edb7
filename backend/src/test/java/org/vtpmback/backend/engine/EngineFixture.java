package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts real swtpm engines under one temp dir and closes all of them afterwards, even when a test
 * fails halfway. Runtime dir = {@code <root>/run} (short, for AF_UNIX paths).
 */
final class EngineFixture implements AutoCloseable {
    private final Path root;
    private final SwtpmLauncher launcher;
    private final List<TpmEngine> engines = new ArrayList<>();

    EngineFixture(Path root) {
        this(root, SwtpmConfig.defaults(root.resolve("run")));
    }

    EngineFixture(Path root, SwtpmConfig config) {
        this(root, config, false);
    }

    /** With {@code secondProcess}, engines as {@code vtpmback create} starts them next to a daemon. */
    EngineFixture(Path root, SwtpmConfig config, boolean secondProcess) {
        this.root = root;
        this.launcher = secondProcess ? new SwtpmLauncher(config).forSecondProcess() : new SwtpmLauncher(config);
    }

    static EngineFixture withResponseTimeout(Path root, Duration timeout) {
        return new EngineFixture(root, SwtpmConfig.defaults(root.resolve("run")).withResponseTimeout(timeout));
    }

    Path stateDir(String name) {
        return root.resolve("state-" + name);
    }

    SwtpmEngine start(String name, TpmFamily family, String stateName) {
        SwtpmEngine e = (SwtpmEngine) launcher.create(name, family, stateDir(stateName));
        engines.add(e);
        return e;
    }

    /** Started, initialised and Startup(CLEAR)ed, ready for guest commands. */
    SwtpmEngine booted(String name, TpmFamily family, String stateName) {
        SwtpmEngine e = start(name, family, stateName);
        e.initClear();
        int rc = e.sendStartupClear();
        if (rc != 0) {
            throw new AssertionError("Startup(CLEAR) answered 0x" + Integer.toHexString(rc));
        }
        return e;
    }

    static void signal(long pid, String signal) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IOException("kill -" + signal + " " + pid + " failed");
        }
    }

    @Override
    public void close() {
        engines.forEach(TpmEngine::close);
    }
}
