package org.vtpmback.backend.instance;

import java.io.IOException;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.state.FencedStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.VtpmStore;

/**
 * What a vTPM instance works with, handed down the pipeline from {@link PersistentInstances} to each
 * {@link PersistentActiveInstance}: the store, the engine boot step and the hypervisor's domain status.
 * All of it is thread-safe and outlives every instance.
 */
record InstanceServices(VtpmStore store, EngineBoot boot, DomainStatus domains) {
    /** Commits {@code record} to the store in full (start, teardown); a failure names the vTPM and where it goes. */
    void commit(InstanceRecord record) {
        write(record, Write.SAVE);
    }

    /** Commits {@code record} as the last save of this host's use of the vTPM (a teardown that ends it), and lets it go. */
    void commitAndRelease(InstanceRecord record) {
        write(record, Write.SAVE_AND_RELEASE);
    }

    /** Checkpoints {@code record}, the state a guest command changed (durable on return); a failure names the vTPM. */
    void checkpoint(InstanceRecord record) {
        write(record, Write.CHECKPOINT);
    }

    private enum Write { SAVE, SAVE_AND_RELEASE, CHECKPOINT }

    private void write(InstanceRecord record, Write how) {
        try {
            switch (how) {
                case SAVE -> store.save(record);
                case SAVE_AND_RELEASE -> store.saveAndRelease(record);
                case CHECKPOINT -> store.checkpoint(record);
            }
        } catch (FencedStateException e) {
            throw new FencedInstanceException(e);
        } catch (IOException e) {
            throw new InstanceException("cannot " + (how == Write.CHECKPOINT ? "checkpoint" : "save") + " vTPM " + record.uuid()
                    + " to " + store.where(record.uuid()) + ": " + e.getMessage(), e);
        }
    }

    /** A write refused because another host took the vTPM over: the instance is fenced for good. */
    static final class FencedInstanceException extends InstanceException {
        private static final long serialVersionUID = 1L;

        FencedInstanceException(FencedStateException cause) {
            super(cause.getMessage(), cause);
        }
    }
}
