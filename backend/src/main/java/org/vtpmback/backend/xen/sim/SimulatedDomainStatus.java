package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import org.vtpmback.backend.instance.DomainStatus;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xen.DomainId;

/**
 * Domain fates for hosts without Xen: the simulated toolstack writes a domain's shutdown reason
 * ("poweroff", "reboot", "suspend", "crash", ...) into {@code <simulation>/domains/<domid>} before it
 * removes the domain's devices, as the hypervisor would record it.
 */
public final class SimulatedDomainStatus implements DomainStatus {
    private final Path domains;

    public SimulatedDomainStatus(SimulationDirectory directory) {
        this.domains = directory.root().resolve("domains");
    }

    @Override
    public Optional<ShutdownReason> shutdownReason(DomainId domid) {
        Path file = domains.resolve(Integer.toString(domid.value()));
        try {
            if (!Files.exists(file)) {
                return Optional.empty();
            }
            String reason = Files.readString(file, StandardCharsets.US_ASCII).trim().toUpperCase(Locale.ROOT);
            return reason.isEmpty() || reason.equals("RUNNING") ? Optional.empty() : Optional.of(ShutdownReason.valueOf(reason));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read simulated domain state " + file, e);
        } catch (IllegalArgumentException e) {
            return Optional.of(ShutdownReason.UNKNOWN);
        }
    }

    /** What the simulated hypervisor records when domain {@code domid} shuts down (empty: running). */
    public void record(int domid, Optional<ShutdownReason> reason) {
        try {
            Files.createDirectories(domains);
            Files.writeString(domains.resolve(Integer.toString(domid)),
                    reason.map(r -> r.name().toLowerCase(Locale.ROOT)).orElse("running"), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write simulated domain state for domain " + domid, e);
        }
    }
}
