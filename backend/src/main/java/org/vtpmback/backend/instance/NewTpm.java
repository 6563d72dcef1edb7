package org.vtpmback.backend.instance;

import java.util.Optional;

/**
 * What a first start gets: the permanent state of a new TPM, manufactured for it, or ready-made from the
 * {@link ManufacturePool} ({@code entry}). A ready-made TPM still has its uuid bound as its guest's engine starts
 * on it (the EK certificate), so no second engine is started for that.
 */
record NewTpm(byte[] permanent, Optional<ManufacturePool.Entry> entry) {
    static NewTpm manufactured(byte[] permanent) {
        return new NewTpm(permanent, Optional.empty());
    }

    static NewTpm readyMade(ManufacturePool.Entry entry) {
        return new NewTpm(entry.permanent(), Optional.of(entry));
    }
}
