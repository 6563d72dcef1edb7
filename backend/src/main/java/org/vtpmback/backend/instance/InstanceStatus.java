package org.vtpmback.backend.instance;

import java.util.Optional;
import java.util.OptionalLong;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;

/**
 * What {@code vtpmback status} shows of a vTPM in use: which one, how this attach started it, the stored
 * generation of its record (grows with every save), and the swtpm process that runs it.
 *
 * @param storeProblem what is wrong with where its state is stored, if anything (its checkpoints only in the commit
 *                     log because folding fails, or the commit log out of use); see {@code InstanceStore#problem}
 */
public record InstanceStatus(Uuid uuid, TpmFamily family, StartMode startMode, long generation, OptionalLong swtpmPid,
                             Optional<String> storeProblem) {
}
