package org.vtpmback.test.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.Manufacturer;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.Uuid;

/**
 * The baseline: swtpm processes started exactly as the daemon starts its own (the same
 * {@link SwtpmLauncher} with {@link SwtpmConfig#defaults}, so the same binary, flags and socket
 * client), manufactured like a new vTPM (same permanent state size as the relay's) and booted
 * clear. One client each, as swtpm serves one data connection at a time. The caller closes it.
 */
final class RawSwtpm implements AutoCloseable {
    private final List<TpmEngine> engines = new ArrayList<>();

    private RawSwtpm() {
    }

    /** Starts {@code count} engines with state and sockets under {@code runtimeDir}. */
    static RawSwtpm start(Path runtimeDir, Path caDir, int count) {
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(runtimeDir));
        Manufacturer manufacturer = new StandardManufacturer(caDir);
        RawSwtpm raw = new RawSwtpm();
        try {
            for (int i = 0; i < count; i++) {
                TpmEngine engine = launcher.create("bench-raw-" + i, TpmFamily.TPM2, runtimeDir.resolve("raw-" + i));
                raw.engines.add(engine);
                // What the daemon does for a vTPM's first start (PersistentInstances.manufacture).
                bootClear(engine);
                manufacturer.manufacture(engine, new Uuid(UUID.randomUUID().toString()));
                engine.shutdownOrderly();
                bootClear(engine);
            }
            return raw;
        } catch (RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    /** The client of engine {@code i}: the engine's own execute, at locality 0 like Linux. */
    TpmClient client(int i) {
        TpmEngine engine = engines.get(i);
        return command -> engine.execute(0, command);
    }

    /** The processes of the first {@code count} engines, whose CPU time the benchmark reads. */
    List<Long> pids(int count) {
        return engines.subList(0, count).stream().map(e -> e.processId().orElseThrow()).toList();
    }

    List<TpmClient> clients(int count) {
        List<TpmClient> clients = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            clients.add(client(i));
        }
        return clients;
    }

    private static void bootClear(TpmEngine engine) {
        engine.initClear();
        int rc = engine.sendStartupClear();
        if (rc != 0) {
            throw new IllegalStateException(engine + ": TPM2_Startup(CLEAR) answered 0x" + Integer.toHexString(rc));
        }
    }

    @Override
    public void close() {
        for (TpmEngine engine : engines) {
            engine.close();
        }
    }
}
