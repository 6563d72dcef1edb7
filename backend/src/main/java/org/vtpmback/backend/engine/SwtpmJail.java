package org.vtpmback.backend.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * How each swtpm is confined, with what util-linux and coreutils already offer (every Debian base has
 * them) instead of a sandbox of our own. swtpm and libtpms parse every guest command; a memory bug in
 * them (libtpms CVE-2023-1017/1018) must not be root in dom0. The launcher runs
 * <pre>
 * unshare --mount --ipc --net --propagation private -- sh -c JAIL_SCRIPT ...
 *   (in the new mount namespace, as root: one mount process makes every mount of the jail's table
 *    ({@link JailMounts}): every hidden path covered by an empty read-only tmpfs, the vTPM's own
 *    folder bound back at its own path; a second one makes read-only the one tmpfs that had to be
 *    writable for a moment, the one above the folder; then the shell's own ulimit sets the limits)
 *   exec setpriv --reuid=U --regid=U --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --
 *   env -i swtpm socket ... --seccomp action=kill
 * </pre>
 * Every step {@code exec}s the next, so the pid the launcher gets is swtpm's. Four programs and two
 * mount processes, whatever the number of hidden paths: each process costs milliseconds (tens under
 * load), and this chain used to be three per hidden path plus prlimit (docs/benchmarks.md, "Connect").
 * env stays a process of its own: the shell cannot be trusted to pass an empty environment (dash
 * exports PWD, bash SHLVL even once they are unset). swtpm thus runs
 * <ul>
 * <li>as a uid of its own (one per running vTPM, {@code firstUid} + slot, gid the same, no
 *     supplementary groups): no passwd entry is needed, and one vTPM's swtpm cannot read another's
 *     folder even without the namespace (its folder is owned by its uid, mode 0700). swtpm 0.7.1's
 *     own {@code --runas <number>} is not used: it keeps the caller's supplementary groups (it calls
 *     neither setgroups nor initgroups for a number), and it would parse its options as root;</li>
 * <li>with no capabilities (none permitted or effective, an empty bounding set), no-new-privs, and
 *     its seccomp profile on (a deny list: no execve, fork, setuid, mount, ptrace, ...);</li>
 * <li>with an empty environment;</li>
 * <li>seeing only its own folder writable: the daemon's state-dir and master key, the runtime-dir with
 *     the other vTPMs' folders, and the world-writable {@code /tmp}, {@code /var/tmp} and
 *     {@code /dev/shm} are covered by empty read-only tmpfs mounts in its mount namespace; its own
 *     network and IPC namespaces have nothing in them (its sockets are path sockets, which work across
 *     network namespaces);</li>
 * <li>with resource limits: files at most {@code maxFileSize} (XAPI uses 256 KiB too: libtpms' TPM 2
 *     NV is 173 KiB at most; SIGXFSZ is ignored, so an oversized write fails instead of killing it),
 *     {@code maxOpenFiles} descriptors, {@code maxAddressSpace} of memory (swtpm uses about 9 MiB),
 *     no core dumps (they would hold the TPM's seeds). Time per command is bounded by the engine's
 *     response timeout. The shell's {@code ulimit} sets each limit, soft and hard, in its units
 *     (POSIX {@code -f}: 512-byte blocks; {@code -v}: KiB), so the byte limits must be multiples of
 *     those.</li>
 * </ul>
 * The systemd unit (packaging/src/main/dist/systemd/vtpmback.service) allows exactly what this needs:
 * its CapabilityBoundingSet=, SystemCallFilter= and RestrictNamespaces= change with this class. Immutable.
 *
 * @param firstUid        the first uid (and gid) given to swtpm
 * @param uidCount        how many: at most this many swtpm processes run at once
 * @param hidden          paths swtpm must not see (typically state-dir, runtime-dir, the master key's
 *                        folder); the folders {@link #DEFAULT_HIDDEN} are always added
 * @param maxFileSize     {@code RLIMIT_FSIZE}, bytes, a multiple of 512
 * @param maxAddressSpace {@code RLIMIT_AS}, bytes, a multiple of 1024
 * @param maxOpenFiles    {@code RLIMIT_NOFILE}
 */
public record SwtpmJail(int firstUid, int uidCount, List<Path> hidden, long maxFileSize, long maxAddressSpace,
                        int maxOpenFiles) {
    /** Default first uid: above the range systemd-nspawn picks container uids from (up to 0x6FFFFFFF). */
    public static final int DEFAULT_FIRST_UID = 0x7000_0000;
    public static final int DEFAULT_UID_COUNT = 4096;
    /** World-writable folders, hidden from every swtpm. */
    public static final List<Path> DEFAULT_HIDDEN = List.of(Path.of("/tmp"), Path.of("/var/tmp"), Path.of("/dev/shm"));
    /** What swtpm and the jail's tools need to see: never covered. */
    private static final List<Path> NEEDED = List.of("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/dev", "/proc",
            "/sys").stream().map(Path::of).toList();
    /** The programs the jail runs, each looked up in the standard system folders. */
    static final List<String> TOOLS = List.of("unshare", "sh", "mount", "setpriv", "env");
    private static final List<String> TOOL_DIRS = List.of("/usr/sbin", "/usr/bin", "/sbin", "/bin");
    /** The jail's whole environment (for its shell to find mount); swtpm itself gets none ({@code env -i}). */
    static final Map<String, String> ENVIRONMENT = Map.of("PATH", String.join(":", TOOL_DIRS));
    /** {@code ulimit -f} counts 512-byte blocks, {@code -v} KiB (POSIX; dash and bash as sh). */
    private static final int FSIZE_BLOCK = 512;
    private static final int AS_BLOCK = 1024;

    /**
     * Runs as root in the new mount namespace: $1 the vTPM's folder, $2 the jail's mount table (a file:
     * mount cannot parse one from a pipe), $3 the tmpfs to make read-only once the folder is bound under
     * it (or empty), $4-$6 the limits in ulimit's units, then the command. The folder is held open
     * (fd 3) while the paths above it are covered, and the table binds it back from that descriptor
     * ({@code mount -c}: no canonicalising, or mount would resolve the path to the now covered one).
     * A failed mount ends the script ({@code set -e}): swtpm never runs half-confined. umask 022 lets
     * swtpm's uid walk the folders the table's X-mount.mkdir makes above its own.
     */
    private static final String SCRIPT = String.join("\n",
            "set -eu",
            "trap '' XFSZ",
            "umask 022",
            "inst=$1; table=$2; cover=$3",
            "exec 3<\"$inst\"",
            "mount -a -i -c -T \"$table\"",
            "if [ -n \"$cover\" ]; then mount -o remount,ro \"$cover\"; fi",
            "exec 3<&-",
            "ulimit -f \"$4\"",
            "ulimit -v \"$5\"",
            "ulimit -n \"$6\"",
            "ulimit -c 0",
            "shift 6",
            "exec \"$@\"");

    public SwtpmJail {
        if (firstUid <= 0 || uidCount <= 0 || (long) firstUid + uidCount - 1 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("swtpm uids " + firstUid + " + " + uidCount + ": must be > 0 and below 2^31");
        }
        if (maxFileSize <= 0 || maxAddressSpace <= 0 || maxOpenFiles <= 0) {
            throw new IllegalArgumentException("swtpm limits must be positive");
        }
        if (maxFileSize % FSIZE_BLOCK != 0 || maxAddressSpace % AS_BLOCK != 0) {
            throw new IllegalArgumentException("swtpm limits " + maxFileSize + " B per file, " + maxAddressSpace
                    + " B of address space: must be multiples of " + FSIZE_BLOCK + " and " + AS_BLOCK
                    + " (the shell's ulimit units), or the jail would set other limits than these");
        }
        hidden = List.copyOf(hidden);
        for (Path p : hidden) {
            if (!p.isAbsolute()) {
                throw new IllegalArgumentException("hidden path " + p + " is not absolute");
            }
        }
    }

    /** uids {@value #DEFAULT_FIRST_UID}.., 256 KiB files, 128 MiB address space, 64 descriptors. */
    public static SwtpmJail defaults(List<Path> hidden) {
        return new SwtpmJail(DEFAULT_FIRST_UID, DEFAULT_UID_COUNT, hidden, 256 * 1024, 128L * 1024 * 1024, 64);
    }

    /** Whether swtpm may run as {@code uid} under this jail. */
    boolean owns(int uid) {
        return uid >= firstUid && uid - (long) firstUid < uidCount;
    }

    /**
     * The absolute path of each tool, or an {@link EngineException} naming what is missing (and how to
     * run without the jail: never silently unconfined).
     */
    static Map<String, Path> tools() {
        return toolsIn(TOOL_DIRS);
    }

    static Map<String, Path> toolsIn(List<String> dirs) {
        Map<String, Path> found = new TreeMap<>();
        List<String> missing = new ArrayList<>();
        for (String tool : TOOLS) {
            Optional<Path> p = dirs.stream().map(d -> Path.of(d, tool))
                    .filter(java.nio.file.Files::isExecutable).findFirst();
            p.ifPresentOrElse(path -> found.put(tool, path), () -> missing.add(tool));
        }
        if (!missing.isEmpty()) {
            throw new EngineException("swtpm-jail is on but " + String.join(", ", missing) + " cannot be found in "
                    + dirs + " (util-linux, mount and coreutils provide them); install them, or set swtpm-jail = no"
                    + " to run swtpm as root, unconfined");
        }
        return found;
    }

    /**
     * The paths to cover: each existing one once, none inside another (covering the outer one hides it),
     * and never one swtpm itself needs (a master key in {@code /etc} must not hide the system).
     */
    List<Path> coveredPaths() {
        List<Path> all = new ArrayList<>();
        for (Path p : concat(hidden, DEFAULT_HIDDEN)) {
            Optional<Path> real = realDirectory(p);
            if (real.isPresent() && !all.contains(real.get()) && NEEDED.stream().noneMatch(x -> x.startsWith(real.get()))) {
                all.add(real.get());
            }
        }
        return all.stream().filter(p -> all.stream().noneMatch(q -> !q.equals(p) && p.startsWith(q))).toList();
    }

    /** The mounts that jail {@code folder} (a real path): every covered path, then the folder bound back. */
    JailMounts mounts(Path folder) {
        return JailMounts.of(coveredPaths(), folder);
    }

    /**
     * The command that runs {@code swtpm} (absolute path) with {@code args} jailed in {@code folder} (the
     * real path {@code mounts} were made for) as {@code uid}; {@code table} is the file holding
     * {@link JailMounts#table}, written by root where nobody else can change it.
     */
    List<String> command(Map<String, Path> tools, JailMounts mounts, Path table, int uid, Path swtpm, List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(tools.get("unshare").toString(), "--mount", "--ipc", "--net",
                "--propagation", "private", "--", tools.get("sh").toString(), "-c", SCRIPT,
                "vtpmback-jail", mounts.folder().toString(), table.toString(),
                mounts.remountReadOnly().map(Path::toString).orElse(""),
                Long.toString(maxFileSize / FSIZE_BLOCK), Long.toString(maxAddressSpace / AS_BLOCK),
                Integer.toString(maxOpenFiles),
                tools.get("setpriv").toString(), "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--",
                tools.get("env").toString(), "-i", swtpm.toString()));
        cmd.addAll(args);
        return cmd;
    }

    /** {@code p} with every symlink resolved, if it is a directory: mount resolves targets the same way. */
    private static Optional<Path> realDirectory(Path p) {
        try {
            Path real = p.toRealPath();
            return java.nio.file.Files.isDirectory(real) ? Optional.of(real) : Optional.empty();
        } catch (java.io.IOException e) {
            return Optional.empty(); // missing (or unreadable): nothing there to hide
        }
    }

    private static List<Path> concat(List<Path> a, List<Path> b) {
        List<Path> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
