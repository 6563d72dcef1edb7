package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.xen.DomainId;

/**
 * A frontend connected (or the daemon re-attaches to one) and needs its vTPM.
 *
 * @param device          the device's name for logs, e.g. "domain 7 vtpm 0"
 * @param frontendDomid   the guest's current domid (changes on reboot, restore and migration)
 * @param uuid            the backend key {@code uuid}, as written by libxl; empty if absent
 * @param resumeRequested the backend key {@code resume} says this is a restore ("True"/"1")
 * @param reattach        the backend was already Connected: the daemon restarted under a live guest
 */
public record ActivationRequest(String device, DomainId frontendDomid, Optional<String> uuid,
                                boolean resumeRequested, boolean reattach) {
}
