package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * What swtpm is run with: its executable, its command line, and the sockets it makes in its runtime folder.
 *
 * <p>Why a class apart from {@link SwtpmLauncher}: these are fixed facts about a swtpm that others read without
 * starting one (a survivor's check in {@link SwtpmSurvivor}, the take-over in {@link LiveSwtpm}), while the launcher
 * is about one process's life: jail and uids, runtime files, the accept and the unwinding of a failed start.
 */
final class SwtpmCommand {
    /** sun_path is 108 bytes; Java's UnixDomainSocketAddress takes at most 106 (swtpm 107). */
    static final int MAX_SOCKET_PATH = 106;
    private static final String DATA_SOCKET = "tpm";
    private static final String CTRL_SOCKET = "ctrl";

    private SwtpmCommand() {
    }

    /**
     * swtpm's data socket: in its own runtime folder, the only place it may create files, so the
     * path is derived from the folder and never taken from anything swtpm wrote.
     */
    static Path dataSocket(Path stateDir) {
        return stateDir.resolve(DATA_SOCKET);
    }

    /** swtpm's ctrl socket, next to the data socket (names kept short: AF_UNIX paths are short). */
    static Path ctrlSocket(Path stateDir) {
        return stateDir.resolve(CTRL_SOCKET);
    }

    /**
     * swtpm's arguments after the executable, the way QEMU/libvirt start it: no {@code --flags}, so the TPM is not
     * running until the engine sends {@code CMD_INIT}; path sockets (Java NIO cannot pass fds for
     * {@code CMD_SET_DATAFD}); locality 4 refused.
     */
    static List<String> arguments(TpmFamily family, Path stateDir) {
        List<String> args = new ArrayList<>(List.of("socket"));
        if (family == TpmFamily.TPM2) {
            args.add("--tpm2");
        }
        args.addAll(List.of(
                "--tpmstate", "dir=" + stateDir + ",mode=0600",
                "--server", "type=unixio,path=" + dataSocket(stateDir) + ",mode=0600",
                "--ctrl", "type=unixio,path=" + ctrlSocket(stateDir) + ",mode=0600",
                // stdout is the log file the daemon opened: swtpm needs no access to the runtime-dir
                "--log", "fd=1,level=1",
                // lets a daemon restarted after a crash find this swtpm and take over its running TPM
                "--pid", "file=" + stateDir.resolve(SwtpmSurvivor.PID_FILE),
                // in-band SetLocality stays off: only the backend chooses localities
                "--locality", "reject-locality-4",
                "--seccomp", "action=kill"));
        return args;
    }

    /**
     * The swtpm executable's real path ({@code /proc/<pid>/exe} shows that), looked up in the daemon's
     * {@code PATH} when the configuration gives a bare name.
     */
    static Optional<Path> executable(String swtpm) {
        List<Path> candidates = swtpm.contains("/") ? List.of(Path.of(swtpm))
                : Arrays.stream(Optional.ofNullable(System.getenv("PATH")).orElse("/usr/bin:/bin").split(":"))
                        .filter(d -> !d.isEmpty()).map(d -> Path.of(d, swtpm)).toList();
        for (Path c : candidates) {
            if (Files.isRegularFile(c) && Files.isExecutable(c)) {
                try {
                    return Optional.of(c.toRealPath());
                } catch (IOException e) {
                    // raced with a removal: try the next one
                }
            }
        }
        return Optional.empty();
    }
}
