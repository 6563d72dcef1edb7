package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Processes running as a uid of the {@link SwtpmJail} range (real, effective, saved or file-system),
 * found through {@code /proc}. The range is reserved for vtpmback, so every such process is a swtpm
 * of this or an earlier daemon, or something it started; at daemon start, after the trusted
 * survivors were found, all others are killed: a swtpm that failed the take-over checks may be
 * compromised, and must neither race the removal of its folder nor share its uid with a new swtpm.
 */
final class SwtpmStrays {
    private static final System.Logger LOG = System.getLogger(SwtpmStrays.class.getName());
    private static final Path PROC = Path.of("/proc");
    private static final Pattern PID = Pattern.compile("[0-9]+");
    private static final long POLL_MS = 10;
    private static final int POLLS = 500;
    private static final int ROUNDS = 5;

    private SwtpmStrays() {
    }

    /** Live (not zombie) processes with a uid in {@code jail}'s range, but those in {@code spare}: pid to that uid. */
    static Map<Long, Integer> find(SwtpmJail jail, Set<Long> spare) {
        Map<Long, Integer> found = new HashMap<>();
        List<Path> procs;
        try (Stream<Path> s = Files.list(PROC)) {
            procs = s.filter(p -> PID.matcher(p.getFileName().toString()).matches()).toList();
        } catch (IOException e) {
            throw new EngineException("cannot list " + PROC + ": " + e.getMessage(), e);
        }
        for (Path proc : procs) {
            long pid = Long.parseLong(proc.getFileName().toString());
            if (!spare.contains(pid)) {
                jailUid(proc, jail::owns).ifPresent(uid -> found.put(pid, uid));
            }
        }
        return found;
    }

    private static Optional<Integer> jailUid(Path proc, IntPredicate inRange) {
        byte[] status;
        try {
            status = Files.readAllBytes(proc.resolve("status"));
        } catch (NoSuchFileException e) {
            return Optional.empty(); // exited meanwhile
        } catch (IOException e) {
            return Optional.empty(); // exited while being read (ESRCH)
        }
        // ISO-8859-1 maps every byte to one char: the fields read are ASCII, and the name may be anything
        return jailUid(new String(status, StandardCharsets.ISO_8859_1), inRange);
    }

    /**
     * Of a {@code /proc/<pid>/status} text: the first of its real, effective, saved and file-system uids (the
     * {@code Uid:} line) that is in range, unless it is a zombie ({@code State:} Z or X). Found by searching the text
     * rather than splitting it into lines: the daemon's start scans every process's status, some 0.5 ms each when
     * split (0.1-0.15 s for the 220 processes of the test machine). Lines are found after a newline only; the
     * kernel escapes one in the process name, the first line.
     */
    static Optional<Integer> jailUid(String status, IntPredicate inRange) {
        String state = field(status, "State:");
        if (state.startsWith("Z") || state.startsWith("X")) {
            return Optional.empty();
        }
        for (String uid : field(status, "Uid:").split("\\s+")) {
            if (!uid.isEmpty() && inRange.test(Integer.parseInt(uid))) {
                return Optional.of(Integer.valueOf(uid));
            }
        }
        return Optional.empty();
    }

    /** The value of the line {@code name} (after a newline), trimmed; "" if there is none. */
    private static String field(String status, String name) {
        int at = status.indexOf("\n" + name);
        if (at < 0) {
            return "";
        }
        int from = at + 1 + name.length();
        int end = status.indexOf('\n', from);
        return status.substring(from, end < 0 ? status.length() : end).trim();
    }

    /**
     * SIGKILLs every process in {@code jail}'s range and waits (bounded) until they are gone, again
     * while new ones appear (a fork between scan and kill).
     *
     * @return the uids of processes still alive after that (to be kept from any new swtpm)
     */
    static Set<Integer> killAll(SwtpmJail jail, Set<Long> spare) {
        Map<Long, Integer> alive = find(jail, spare);
        for (int round = 0; round < ROUNDS && !alive.isEmpty(); round++) {
            for (Map.Entry<Long, Integer> e : alive.entrySet()) {
                LOG.log(Level.WARNING, "killing pid {0} running as swtpm uid {1}: not a swtpm this daemon took over"
                        + " (the uid range is reserved for vtpmback)", e.getKey().toString(), e.getValue().toString());
                ProcessHandle.of(e.getKey()).ifPresent(ProcessHandle::destroyForcibly);
            }
            for (int i = 0; i < POLLS && !alive.isEmpty(); i++) {
                sleep();
                alive = find(jail, spare);
            }
        }
        Set<Integer> left = new HashSet<>(alive.values());
        if (!left.isEmpty()) {
            LOG.log(Level.ERROR, "processes {0} running as swtpm uids {1} survived SIGKILL; those uids stay unused and"
                    + " their folders are kept", new ArrayList<>(alive.keySet()), left);
        }
        return left;
    }

    private static void sleep() {
        try {
            Thread.sleep(POLL_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EngineException("interrupted while waiting for killed swtpm processes to exit");
        }
    }
}
