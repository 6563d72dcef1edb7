package org.vtpmback.backend.instance;

/** Where vTPM instances come from: decides how each one starts and keeps its state. Thread-safe. */
public interface VtpmInstances {
    /**
     * Starts the vTPM for a connecting device: engine running, TPM started as the situation requires.
     *
     * @throws InstanceException with a message naming the uuid and the domain if it cannot be started
     */
    ActiveInstance activate(ActivationRequest request);
}
