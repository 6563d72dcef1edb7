package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.instance.InstanceStatus;
import org.vtpmback.xenstore.XenbusState;

/**
 * One device as {@code vtpmback status} shows it, read while the daemon runs: its xenbus state as the
 * backend wrote it, the vTPM it serves (empty before the guest connected, or after it closed), the commands
 * served since it connected and how long ago the last one ran.
 *
 * @param domainName the guest's name from xenstore, empty if it has none (toolstack-written, still escaped where printed)
 */
public record DeviceStatus(DeviceId id, Optional<String> domainName, XenbusState backendState, Optional<InstanceStatus> instance,
                           long commands, Optional<Duration> sinceLastCommand) {
}
