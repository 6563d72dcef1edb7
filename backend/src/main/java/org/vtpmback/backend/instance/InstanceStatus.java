package org.vtpmback.backend.instance;

import java.util.OptionalLong;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * What {@code vtpmback status} shows of a vTPM in use: which one, how this attach started it, the stored
 * generation of its record (grows with every save), and the swtpm process that runs it.
 */
public record InstanceStatus(Uuid uuid, TpmFamily family, StartMode startMode, long generation, OptionalLong swtpmPid) {
}
