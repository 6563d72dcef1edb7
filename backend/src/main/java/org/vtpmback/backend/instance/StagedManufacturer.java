package org.vtpmback.backend.instance;

import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * A {@link Manufacturer} in two stages, so that the slow one can be done before anyone knows the uuid: the
 * pool of ready-made TPMs ({@link ManufacturePool}) keeps TPMs after {@link #makeKeys}, and a first start
 * only {@link #bind}s one to its uuid. The two stages in a row are {@link #manufacture}.
 */
public interface StagedManufacturer extends Manufacturer {
    /**
     * The slow, identity-free stage on a blank, started TPM: its keys (TPM 2.0: the EK, persisted at
     * 0x81010001; TPM 1.2: its endorsement key pair).
     *
     * @param what names the TPM in messages and logs (a pool entry)
     */
    void makeKeys(TpmEngine engine, String what);

    /**
     * The stage that needs the uuid, on a started TPM that {@link #makeKeys} made (the EK certificate for
     * {@code uuid}, in the family's NV index). Runs only where {@link #bindsIn} says so.
     */
    void bind(TpmEngine engine, Uuid uuid);

    /**
     * Readies {@link #bind} ahead of the first one (e.g. loads the CA that signs), so that the first start after a
     * daemon start does not pay for it; runs on the pool's thread as it starts.
     */
    default void readyBinding() {
    }

    /** Whether {@link #bind} changes a {@code family} TPM; if not, a ready-made one is the vTPM as it is. */
    boolean bindsIn(TpmFamily family);

    @Override
    default void manufacture(TpmEngine engine, Uuid uuid) {
        makeKeys(engine, "vTPM " + uuid);
        if (bindsIn(engine.family())) {
            bind(engine, uuid);
        }
    }
}
