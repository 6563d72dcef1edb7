package org.vtpmback.process;

import com.sun.jna.Memory;
import com.sun.jna.ptr.IntByReference;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.vtpmback.xen.XenErrnoException;
import org.vtpmback.xen.jna.ProcessCalls;

/**
 * posix_spawn with what {@link ProcessBuilder} gave a child, and no more: the file actions open stdin on
 * /dev/null, stdout in append mode on the output file, stderr onto stdout, and close every other fd
 * ({@code closefrom}: the JVM opens many files and sockets without O_CLOEXEC); the attributes reset every signal
 * to its default and block none (the JVM's handlers and masks are not the child's business). glibc spawns with
 * {@code clone(CLONE_VM|CLONE_VFORK)}, which is safe in a multi-threaded JVM and reports a failed exec as the
 * call's error. Stateless.
 */
public final class Spawn {
    /** What {@code ProcessBuilder.Redirect.appendTo} creates a missing file with (before the umask). */
    private static final int OUTPUT_MODE = 0666;

    private Spawn() {
    }

    /**
     * Starts {@code executable} with {@code argv} (argv[0] included) and exactly {@code environment}; the caller
     * must watch (reap) the pid it returns, e.g. with {@link ProcessExits#watchChild}.
     *
     * @throws XenErrnoException naming the call that failed and its errno
     */
    public static long spawn(Path executable, List<String> argv, Map<String, String> environment, Path output) {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("argv is empty: it needs at least argv[0]");
        }
        String[] env = environment.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        ProcessCalls c = ProcessCalls.LIBRARY.get();
        String what = executable.toString();
        try (Memory actions = new Memory(ProcessCalls.FILE_ACTIONS_SIZE);
             Memory attr = new Memory(ProcessCalls.SPAWNATTR_SIZE);
             Memory signals = new Memory(ProcessCalls.SIGSET_SIZE)) {
            check("posix_spawn_file_actions_init", what, c.posix_spawn_file_actions_init(actions));
            try {
                check("posix_spawnattr_init", what, c.posix_spawnattr_init(attr));
                try {
                    check("posix_spawn_file_actions_addopen", "/dev/null",
                            c.posix_spawn_file_actions_addopen(actions, 0, "/dev/null", ProcessCalls.O_RDONLY, 0));
                    check("posix_spawn_file_actions_addopen", output.toString(), c.posix_spawn_file_actions_addopen(actions,
                            1, output.toString(), ProcessCalls.O_WRONLY | ProcessCalls.O_CREAT | ProcessCalls.O_APPEND,
                            OUTPUT_MODE));
                    check("posix_spawn_file_actions_adddup2", "1 to 2", c.posix_spawn_file_actions_adddup2(actions, 1, 2));
                    check("posix_spawn_file_actions_addclosefrom_np", "fd 3 (glibc 2.34 or later)",
                            c.posix_spawn_file_actions_addclosefrom_np(actions, 3));
                    c.sigemptyset(signals);
                    check("posix_spawnattr_setsigmask", what, c.posix_spawnattr_setsigmask(attr, signals));
                    c.sigfillset(signals);
                    check("posix_spawnattr_setsigdefault", what, c.posix_spawnattr_setsigdefault(attr, signals));
                    check("posix_spawnattr_setflags", what, c.posix_spawnattr_setflags(attr,
                            (short) (ProcessCalls.POSIX_SPAWN_SETSIGDEF | ProcessCalls.POSIX_SPAWN_SETSIGMASK)));
                    IntByReference pid = new IntByReference();
                    check("posix_spawn", String.join(" ", argv), c.posix_spawn(pid, what, actions, attr,
                            argv.toArray(String[]::new), env));
                    return pid.getValue();
                } finally {
                    c.posix_spawnattr_destroy(attr);
                }
            } finally {
                c.posix_spawn_file_actions_destroy(actions);
            }
        }
    }

    /** SIGKILL by pid: only for a child not yet reaped (its pid cannot have been reused). */
    static void killPid(long pid) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    /** posix_spawn and its helpers return an errno (0 for success), not -1. */
    private static void check(String call, String subject, int rc) {
        if (rc != 0) {
            throw new XenErrnoException(call, subject, rc);
        }
    }
}
