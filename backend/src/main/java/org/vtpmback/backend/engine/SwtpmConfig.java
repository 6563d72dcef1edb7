package org.vtpmback.backend.engine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * How {@link SwtpmLauncher} runs swtpm. Immutable.
 *
 * @param swtpmBinary     the swtpm executable: a path, or a name looked up in {@code PATH}
 * @param runtimeDir      where swtpm's logs ({@code <name>.log}, {@link SwtpmRuntimeFiles}) go; created if missing. Its sockets
 *                        ({@code tpm}, {@code ctrl}) go into its own state folder, whose path must
 *                        leave room for them: a UNIX socket path has at most 106 bytes
 * @param startTimeout    how long a new swtpm may take until its sockets accept
 * @param ctrlTimeout     bound on every control-channel answer
 * @param responseTimeout bound on every TPM response; generous, because RSA key generation on a loaded
 *                        host takes seconds, and after it the engine is dead
 * @param jail            how swtpm is confined; empty: it runs unconfined as the daemon's own user
 */
public record SwtpmConfig(String swtpmBinary, Path runtimeDir, Duration startTimeout, Duration ctrlTimeout,
                          Duration responseTimeout, Optional<SwtpmJail> jail) {
    public SwtpmConfig {
        if (swtpmBinary == null || swtpmBinary.isEmpty() || runtimeDir == null || jail == null) {
            throw new IllegalArgumentException("swtpmBinary, runtimeDir and jail are required");
        }
        requirePositive(startTimeout, "startTimeout");
        requirePositive(ctrlTimeout, "ctrlTimeout");
        requirePositive(responseTimeout, "responseTimeout");
    }

    /**
     * {@code swtpm} from {@code PATH}, unconfined (the daemon sets a jail with {@link #withJail}); 120 s to start, 120 s per ctrl answer, 120 s per TPM response.
     * The start bound covers the jail's exec chain (unshare with three new namespaces, sh and its two mounts, setpriv, env,
     * swtpm): about 0.1 s natively, but a jailed swtpm missed a 30 s bound in the real-Xen harness's emulated
     * dom0 on a loaded host (daemon log: "failed to start (exit code 137)", the launcher's own kill at 30 s).
     * A swtpm that exits early still fails at once (the connect loop watches the process). The ctrl bound is generous because a TPM 1.2 CMD_INIT runs libtpms' self-test: 0.4 s natively,
     * but 3-12 s measured in a dom0 under QEMU emulation, longer on a loaded host. The bounds exist so a
     * hung swtpm cannot hang a device forever, not to police speed.
     */
    public static SwtpmConfig defaults(Path runtimeDir) {
        return new SwtpmConfig("swtpm", runtimeDir, Duration.ofSeconds(120), Duration.ofSeconds(120),
                Duration.ofSeconds(120), Optional.empty());
    }

    /** A copy that confines every swtpm in {@code jail}. */
    public SwtpmConfig withJail(SwtpmJail jail) {
        return new SwtpmConfig(swtpmBinary, runtimeDir, startTimeout, ctrlTimeout, responseTimeout, Optional.of(jail));
    }

    /** A copy running {@code binary} instead. */
    public SwtpmConfig withSwtpmBinary(String binary) {
        return new SwtpmConfig(binary, runtimeDir, startTimeout, ctrlTimeout, responseTimeout, jail);
    }

    /** A copy with another bound on ctrl answers. */
    public SwtpmConfig withCtrlTimeout(Duration timeout) {
        return new SwtpmConfig(swtpmBinary, runtimeDir, startTimeout, timeout, responseTimeout, jail);
    }

    /** A copy with another bound on TPM responses. */
    public SwtpmConfig withResponseTimeout(Duration timeout) {
        return new SwtpmConfig(swtpmBinary, runtimeDir, startTimeout, ctrlTimeout, timeout, jail);
    }

    private static void requirePositive(Duration d, String what) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be positive, got " + d);
        }
    }
}
