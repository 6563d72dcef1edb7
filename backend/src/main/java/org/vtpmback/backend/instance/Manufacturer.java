package org.vtpmback.backend.instance;

import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.state.Uuid;

/** Gives a brand-new TPM its factory identity (EK, EK certificate). Runs on a started TPM. */
@FunctionalInterface
public interface Manufacturer {
    void manufacture(TpmEngine engine, Uuid uuid);
}
