package org.vtpmback.backend.instance;

import java.io.IOException;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;

/**
 * What a vTPM instance works with, handed down the pipeline from {@link PersistentInstances} to each
 * {@link PersistentActiveInstance}: the store, the engine boot step and the hypervisor's domain status.
 * All of it is thread-safe and outlives every instance.
 */
record InstanceServices(InstanceStore store, EngineBoot boot, DomainStatus domains) {
    /** Commits {@code record} to the store in full (start, teardown); a failure names the vTPM and the file. */
    void commit(InstanceRecord record) {
        try {
            store.save(record);
        } catch (IOException e) {
            throw new InstanceException("cannot save vTPM " + record.uuid() + " to " + store.fileOf(record.uuid()) + ": " + e.getMessage(), e);
        }
    }

    /** Checkpoints {@code record}, the state a guest command changed (durable on return); a failure names the vTPM. */
    void checkpoint(InstanceRecord record) {
        try {
            store.checkpoint(record);
        } catch (IOException e) {
            throw new InstanceException("cannot checkpoint vTPM " + record.uuid() + " in " + store.dir() + ": " + e.getMessage(), e);
        }
    }
}
