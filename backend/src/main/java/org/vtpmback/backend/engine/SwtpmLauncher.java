package org.vtpmback.backend.engine;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.vtpmback.process.ProcessExits;
import org.vtpmback.process.WatchedProcess;

/**
 * Starts one swtpm process per engine, run as {@link SwtpmCommand} says (jailed when configured), and caps its
 * buffer size to what a Xen shared page carries before the first INIT.
 * Thread-safe and stateless apart from its configuration.
 */
public final class SwtpmLauncher implements EngineFactory {
    private static final System.Logger LOG = System.getLogger(SwtpmLauncher.class.getName());
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final int OWN_UID = ownUid();

    private final SwtpmConfig config;
    /** Its logs and mount tables in the runtime-dir, and when each goes. */
    private final SwtpmRuntimeFiles files;
    /** The jail's tools and uids; empty when swtpm runs unconfined. */
    private final Optional<Map<String, Path>> jailTools;
    private final Optional<SwtpmUids> uids;
    /** Pids of the {@link #survivor}s handed out and not stopped, with their log's name: spared by {@link #stopStrays}. */
    private final Map<Long, Optional<String>> held = new ConcurrentHashMap<>();

    /**
     * @throws EngineException if {@code config} has a jail but the daemon is not root or a tool of the
     *                         jail is missing (never falls back to an unconfined swtpm)
     */
    public SwtpmLauncher(SwtpmConfig config) {
        this(config, false);
    }

    private SwtpmLauncher(SwtpmConfig config, boolean secondProcess) {
        this.config = config;
        this.files = SwtpmRuntimeFiles.of(config);
        if (config.jail().isPresent()) {
            if (OWN_UID != 0) {
                throw new EngineException("swtpm-jail is on but the daemon runs as uid " + OWN_UID + ", not root: it cannot"
                        + " give swtpm its own user and mount namespace; run it as root, or set swtpm-jail = no");
            }
            jailTools = Optional.of(SwtpmJail.tools());
            uids = Optional.of(secondProcess ? SwtpmUids.forSecondProcess(config.jail().get()) : new SwtpmUids(config.jail().get()));
        } else {
            jailTools = Optional.empty();
            uids = Optional.empty();
        }
    }

    /** The same swtpm, for a second process next to a running daemon: uids as {@link SwtpmUids#forSecondProcess}. */
    public SwtpmLauncher forSecondProcess() {
        return new SwtpmLauncher(config, true);
    }

    @Override
    public TpmEngine create(String name, TpmFamily family, Path stateDir) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("bad instance name '" + name + "': use 1-64 of [A-Za-z0-9._-]");
        }
        Path dataSocket = SwtpmCommand.dataSocket(stateDir);
        Path ctrlSocket = SwtpmCommand.ctrlSocket(stateDir);
        if (ctrlSocket.toString().getBytes(StandardCharsets.UTF_8).length > SwtpmCommand.MAX_SOCKET_PATH) {
            throw new EngineException("swtpm[" + name + "] socket path too long for AF_UNIX: " + ctrlSocket);
        }
        SwtpmProcess process = spawn(name, family, stateDir, dataSocket, ctrlSocket);
        SwtpmCtrl ctrl = null;
        SwtpmData data = null;
        try {
            long deadline = TimedChannel.deadline(config.startTimeout());
            ctrl = SwtpmAccept.await(name, process, ctrlSocket, deadline, s -> SwtpmCtrl.connect(name, s, config.ctrlTimeout()));
            // swtpm runs, so the jail's mount -a, which came before it, has read its table
            files.spawned(name);
            // swtpm's folder is its own: only a listener running as its uid is it
            if (!ctrl.peerUser().equals(user(process.uid()))) {
                throw new EngineException("swtpm[" + name + "] ctrl socket " + ctrlSocket + " is served by user "
                        + ctrl.peerUser().getName() + ", not by uid " + process.uid());
            }
            data = SwtpmAccept.await(name, process, dataSocket, deadline, s -> SwtpmData.connect(s, config.responseTimeout()));
            // Before the first INIT (setting it needs a stopped TPM): libtpms then reports 4088 as
            // TPM_PT_MAX_COMMAND/RESPONSE_SIZE, so the guest never builds a command the page can't carry.
            SwtpmCtrl.BufferSize size = ctrl.setBufferSize(TpmEngine.MAX_COMMAND_SIZE);
            if (size.size() != TpmEngine.MAX_COMMAND_SIZE) {
                throw new EngineException("swtpm[" + name + "] buffer size is " + size + ", wanted "
                        + TpmEngine.MAX_COMMAND_SIZE);
            }
            return SwtpmEngine.start(name, family, stateDir, process, ctrl, data);
        } catch (IOException | RuntimeException e) {
            if (data != null) {
                data.close();
            }
            if (ctrl != null) {
                ctrl.close();
            }
            process.stop(Duration.ZERO);
            files.spawned(name);
            String detail = "swtpm[" + name + "] failed to start (" + process.describe() + "); log: "
                    + process.logTail(5);
            LOG.log(Level.ERROR, detail);
            process.ended(true);
            throw new EngineException(detail, e);
        }
    }

    /** The user with {@code uid}, to compare with a socket's {@code SO_PEERCRED}. */
    static UserPrincipal user(int uid) {
        try {
            // a number that names no user is taken as the uid (sun.nio.fs.UnixUserPrincipals)
            return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName(Integer.toString(uid));
        } catch (IOException e) {
            throw new EngineException("cannot look up uid " + uid + ": " + e.getMessage(), e);
        }
    }

    /** Whether swtpm may run as {@code uid}: jailed, one of the jail's; unconfined, the daemon's own. */
    private boolean isSwtpmUser(int uid) {
        return config.jail().map(j -> j.owns(uid)).orElse(uid == OWN_UID);
    }

    /** For tests: how many jail uids live swtpm processes hold. */
    int uidsInUse() {
        return uids.map(SwtpmUids::inUse).orElse(0);
    }

    @Override
    public Optional<SurvivingEngine> survivor(Path stateDir) {
        Optional<Path> swtpm = SwtpmCommand.executable(config.swtpmBinary());
        if (swtpm.isEmpty()) {
            throw new EngineException("cannot check a swtpm left on " + stateDir + ": no executable '"
                    + config.swtpmBinary() + "'");
        }
        Optional<SwtpmSurvivor> found = SwtpmSurvivor.find(stateDir, swtpm.get(), this::isSwtpmUser);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        SwtpmSurvivor survivor = found.get();
        // its uid is taken until it is gone, so no new swtpm ever shares it
        uids.ifPresent(u -> u.reserve(survivor.uid()));
        survivor.process().onExit().thenRun(() -> release(survivor.uid()));
        // the log it writes, read while the pidfd shows it alive: a pid recycled after that is not this swtpm
        Optional<String> logName = files.logNameOf(survivor.pid()).filter(n -> survivor.process().isAlive());
        held.put(survivor.pid(), logName);
        return Optional.of(new LiveSwtpm(survivor, config, files, logName, () -> held.remove(survivor.pid())));
    }

    /**
     * Kills every process in the jail's uid range but the trusted survivors still held, and keeps the uids of any that
     * outlive SIGKILL from new swtpm processes; then ends the runtime-dir's files of every swtpm not held
     * ({@link SwtpmRuntimeFiles#leftBehind}).
     */
    @Override
    public Set<Integer> stopStrays() {
        Set<Integer> left = Set.of(); // unjailed, swtpm runs as the daemon's own user: no range of its own to sweep
        if (config.jail().isPresent()) {
            left = SwtpmStrays.killAll(config.jail().get(), Set.copyOf(held.keySet()));
            left.forEach(uid -> uids.orElseThrow().reserve(uid));
        }
        files.leftBehind(held.values().stream().flatMap(Optional::stream).collect(java.util.stream.Collectors.toSet()));
        return left;
    }

    private SwtpmProcess spawn(String name, TpmFamily family, Path stateDir, Path dataSocket, Path ctrlSocket) {
        Path logFile = files.log(name);
        Path swtpm = SwtpmCommand.executable(config.swtpmBinary()).orElseThrow(() -> new EngineException("swtpm[" + name
                + "] cannot run '" + config.swtpmBinary() + "': no such executable"));
        List<String> args = SwtpmCommand.arguments(family, stateDir);
        int uid = OWN_UID;
        List<String> cmd;
        try {
            Files.createDirectories(config.runtimeDir());
            Files.createDirectories(stateDir);
            if (!Files.isDirectory(stateDir, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(stateDir + " is not a directory (a symlink?)");
            }
            // A killed swtpm leaves its socket files behind; clear them so a stale one is never connected.
            Files.deleteIfExists(dataSocket);
            Files.deleteIfExists(ctrlSocket);
            files.beforeSpawn(name);
            if (uids.isPresent()) {
                uid = uids.get().acquire((Integer) Files.getAttribute(stateDir, "unix:uid", LinkOption.NOFOLLOW_LINKS));
                giveFolder(stateDir, uid);
                SwtpmJail jail = config.jail().orElseThrow();
                JailMounts mounts = jail.mounts(stateDir.toRealPath());
                // root's file in root's private runtime-dir: whoever could change it would choose the jail's mounts
                Path table = files.mountTable(name);
                Files.writeString(table, mounts.table());
                cmd = jail.command(jailTools.orElseThrow(), mounts, table, uid, swtpm, args);
            } else {
                cmd = new ArrayList<>(List.of(swtpm.toString()));
                cmd.addAll(args);
            }
        } catch (IOException | RuntimeException e) {
            release(uid);
            files.spawned(name);
            throw new EngineException("swtpm[" + name + "] cannot prepare " + stateDir + ": " + e.getMessage(), e);
        }
        try {
            // Not a ProcessBuilder: the JDK would keep a thread blocked in waitpid for each swtpm, one per guest.
            // posix_spawn gives it what ProcessBuilder did (stdin /dev/null, stdout and stderr appended to the log,
            // no other fd of the daemon) and one thread watches every swtpm's exit. Nothing of the daemon's
            // environment reaches swtpm.
            WatchedProcess p = ProcessExits.shared().spawn(Path.of(cmd.get(0)), cmd,
                    config.jail().isPresent() ? SwtpmJail.ENVIRONMENT : Map.of(), logFile);
            int taken = uid;
            p.onExit().thenRun(() -> release(taken)); // only once it is reaped: never two live swtpm on one uid
            return new SwtpmProcess(p, files, name, uid);
        } catch (RuntimeException e) {
            release(uid);
            files.spawned(name);
            files.ended(name, 0, true); // pid 0: it never ran; whatever the log has is kept for the operator
            throw new EngineException("swtpm[" + name + "] cannot run " + String.join(" ", cmd) + ": " + e.getMessage(), e);
        }
    }

    private void release(int uid) {
        uids.ifPresent(u -> u.release(uid));
    }

    /**
     * Makes {@code folder} and what is in it (swtpm's files from an earlier run) owned by {@code uid},
     * mode 0700: swtpm's own, nobody else's. Symlinks are not followed (their own owner changes).
     */
    private static void giveFolder(Path folder, int uid) throws IOException {
        try (Stream<Path> entries = Files.list(folder)) {
            for (Path entry : entries.toList()) {
                Files.setAttribute(entry, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(entry, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
            }
        }
        Files.setAttribute(folder, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(folder, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwx------"));
    }

    private static int ownUid() {
        try {
            return SwtpmSurvivor.uidsOf(Path.of("/proc/self")).get(1);
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
