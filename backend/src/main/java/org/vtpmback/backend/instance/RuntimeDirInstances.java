package org.vtpmback.backend.instance;

import java.nio.file.Path;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Instances whose swtpm state lives in a plain folder per uuid, booted clear on every connect. This is
 * the device-layer stage: no encryption, no volatile snapshot, no manufacture; the state lifecycle
 * (PersistentInstances) replaces it.
 */
public final class RuntimeDirInstances implements VtpmInstances {
    private static final System.Logger LOG = System.getLogger(RuntimeDirInstances.class.getName());
    private static final Pattern UUID = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    private final EngineFactory engines;
    private final Path stateRoot;
    private final Function<String, TpmFamily> familyOf;

    public RuntimeDirInstances(EngineFactory engines, Path stateRoot, Function<String, TpmFamily> familyOf) {
        this.engines = engines;
        this.stateRoot = stateRoot;
        this.familyOf = familyOf;
    }

    @Override
    public ActiveInstance activate(ActivationRequest request) {
        String uuid = checkedUuid(request);
        TpmFamily family = familyOf.apply(uuid);
        Path dir = stateRoot.resolve(uuid.toLowerCase(java.util.Locale.ROOT));
        String name = "vtpm-" + request.frontendDomid() + "-" + uuid.substring(0, 8);
        return new Active(name, family, dir, request.device());
    }

    static String checkedUuid(ActivationRequest request) {
        String uuid = request.uuid().orElseThrow(() -> new InstanceException(request.device()
                + ": the backend has no uuid key; a vTPM is identified by its uuid (xl: vtpm=[\"backend=0,uuid=...\"])"));
        if (!UUID.matcher(uuid).matches()) {
            throw new InstanceException(request.device() + ": backend uuid '" + uuid + "' is not a uuid");
        }
        return uuid;
    }

    private final class Active implements ActiveInstance {
        private final String name;
        private final TpmFamily family;
        private final Path dir;
        private final String device;
        private TpmEngine engine;

        Active(String name, TpmFamily family, Path dir, String device) {
            this.name = name;
            this.family = family;
            this.dir = dir;
            this.device = device;
            this.engine = bootedEngine();
        }

        private TpmEngine bootedEngine() {
            TpmEngine e = engines.create(name, family, dir);
            try {
                e.initClear();
                int rc = e.sendStartupClear();
                LOG.log(System.Logger.Level.INFO, "{0}: {1} engine {2} started clear (Startup rc 0x{3})",
                        device, family, name, Integer.toHexString(rc));
                return e;
            } catch (RuntimeException ex) {
                e.close();
                throw ex;
            }
        }

        @Override
        public TpmEngine engine() {
            return engine;
        }

        @Override
        public TpmEngine restartEngine() {
            engine.close();
            engine = bootedEngine();
            return engine;
        }

        @Override
        public void afterCommand() {
            // state lives in the folder swtpm writes itself; nothing to checkpoint
        }

        @Override
        public void deactivate(Teardown why) {
            if (why != Teardown.ENGINE_FAILED && engine.isAlive()) {
                engine.shutdownOrderly(); // keeps the dictionary-attack counter from growing (swtpm trap 5)
            }
            engine.close();
        }
    }
}
