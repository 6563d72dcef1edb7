package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * swtpm for a command next to a running daemon ({@code create}, {@code ek}): confined as the daemon's
 * ({@link DaemonCommand#launcher}), with uids from the far end of the range
 * ({@link org.vtpmback.backend.engine.SwtpmLauncher#forSecondProcess}), working in a folder of this process,
 * {@code <runtime-dir>/c<pid>}: on tmpfs like the daemon's (the TPM state in it is plaintext), and apart from
 * the daemon's {@code instances} folder, which the daemon owns. The folder is removed on {@link #close}, and
 * those of commands that died are removed by the next one.
 */
final class CommandEngines implements AutoCloseable {
    /**
     * Short: {@code c<pid>/<uuid>.read/ctrl} must fit in the 56 bytes that runtime-dir's length bound leaves for
     * the daemon's {@code instances/<uuid>.new/ctrl} (an AF_UNIX path has at most 106).
     */
    private static final String PREFIX = "c";

    private final Path folder;
    private final EngineBoot boot;

    private CommandEngines(Path folder, EngineBoot boot) {
        this.folder = folder;
        this.boot = boot;
    }

    /**
     * @throws Dirs.NotPrivate if runtime-dir is not private (a configuration error, as for the daemon)
     * @throws IOException     if it cannot be created or listed
     */
    static CommandEngines open(VtpmbackConfig config) throws IOException {
        Dirs.ensurePrivate(config.runtimeDir(), Dirs.Kind.RUNTIME);
        removeDead(config.runtimeDir());
        Path folder = config.runtimeDir().resolve(PREFIX + ProcessHandle.current().pid());
        return new CommandEngines(folder, new EngineBoot(DaemonCommand.launcher(config).forSecondProcess(), folder));
    }

    /** Starts engines in this command's folder. */
    EngineBoot boot() {
        return boot;
    }

    @Override
    public void close() {
        EngineBoot.removeFolder(folder);
    }

    /** The folders of commands whose process is gone (killed before their {@link #close}). */
    private static void removeDead(Path runtimeDir) throws IOException {
        List<Path> dead;
        try (Stream<Path> entries = Files.list(runtimeDir)) {
            dead = entries.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                    .filter(p -> p.getFileName().toString().matches(PREFIX + "[0-9]{1,18}"))
                    .filter(p -> ProcessHandle.of(Long.parseLong(p.getFileName().toString().substring(PREFIX.length())))
                            .isEmpty())
                    .toList();
        }
        dead.forEach(EngineBoot::removeFolder);
    }
}
