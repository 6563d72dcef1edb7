package org.vtpmback.test.faults.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * One dom0 of the fault suite: a private real xenstored of the given flavour, the packaged daemon
 * under test on it (host = simulated), the toolstack and frontend emulators of
 * {@link SimulatedVtpmHost} driving it from this process, and a neighbour guest running its command
 * loop from the start. Optionally the daemon's state-dir is a small tmpfs of its own (root only), so a
 * case can fill it; its runtime-dir is on /dev/shm when it can be, a tmpfs as /run is in production.
 * Closing stops everything this host started.
 */
final class FaultHost implements AutoCloseable {
    static final Duration CONNECT_WAIT = Duration.ofSeconds(60);
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(1000);
    private static final String STATE_TMPFS_SIZE = "32m";

    final String name;
    final Path dir;
    final XenstoredDaemon xsd;
    final Path stateDir;
    final Path runtimeDir;
    final boolean stateOnTmpfs;
    DaemonUnderTest daemon;
    SimulatedVtpmHost host;
    Neighbour neighbour;

    private FaultHost(String name, Path dir, XenstoredDaemon xsd, Path stateDir, Path runtimeDir, boolean stateOnTmpfs) {
        this.name = name;
        this.dir = dir;
        this.xsd = xsd;
        this.stateDir = stateDir;
        this.runtimeDir = runtimeDir;
        this.stateOnTmpfs = stateOnTmpfs;
    }

    static FaultHost start(String name, XenstoredDaemon.Flavour flavour, Path dir, FaultOptions o, boolean tmpfsState) throws Exception {
        Files.createDirectories(dir);
        XenstoredDaemon xsd = XenstoredDaemon.start(flavour, dir.resolve("xsd"), Map.of());
        // 0700, as the daemon requires of its state-dir (a tmpfs mounted on it gets mode=0700 too)
        Path state = Files.createDirectories(dir.resolve("state"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        boolean tmpfs = tmpfsState && mountTmpfs(state);
        // As in production, the running vTPMs' working files live on a tmpfs (/run there, /dev/shm here).
        Path shm = Path.of("/dev/shm");
        // Short: the daemon allows runtime-dir 50 bytes, so that swtpm's socket paths fit.
        Path runtime = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "vtpmf-" + name + "-") : Files.createDirectories(dir.resolve("run"));
        FaultHost h = new FaultHost(name, dir, xsd, state, runtime, tmpfs);
        try {
            Path sim = Files.createDirectories(dir.resolve("sim"));
            // the jail on this JVM's own uid range: on the default one, any other daemon's start on the machine
            // (a test run, an installed vtpmback) killed the suite's swtpm processes and failed the neighbour
            List<String> settings = new java.util.ArrayList<>(List.of("host=simulated", "simulation-dir=" + sim,
                    "xenstored-socket=" + xsd.socket(), "state-dir=" + state, "runtime-dir=" + runtime,
                    "master-key=" + state.resolve("master.key")));
            settings.addAll(DaemonProcess.jailSettings());
            h.daemon = DaemonUnderTest.start(name, o.dist(), o.daemonJavaOpts(), dir.resolve("daemon.log"), settings);
            h.host = new SimulatedVtpmHost(xsd.socket(), dir.resolve("host"), sim);
            h.neighbour = new Neighbour(h.host.boot(UUID.randomUUID().toString()));
            return h;
        } catch (Exception | Error e) {
            h.close();
            throw e;
        }
    }

    /** A new domain with a vtpm device of a new uuid whose frontend is the hostile one; not connected yet. */
    RogueGuest rogue() throws Exception {
        return RogueGuest.create(host, xsd, NEXT_DOMID.getAndIncrement(), UUID.randomUUID().toString());
    }

    /** A rogue guest that first connects properly (its vTPM is manufactured and running). */
    RogueGuest connectedRogue() throws Exception {
        RogueGuest g = rogue();
        if (!g.connect(CONNECT_WAIT)) {
            String state = g.backendState().orElse("absent");
            g.close();
            throw new IllegalStateException(g + ": backend not Connected within " + CONNECT_WAIT + " (is " + state + "); daemon log:\n"
                    + daemon.logTail(20));
        }
        return g;
    }

    /** The live swtpm of {@code uuid}: a child of the daemon whose command line names the uuid. */
    List<ProcessHandle> swtpmOf(String uuid) {
        return ProcessHandle.of(daemon.pid()).map(d -> d.descendants()
                .filter(p -> p.info().command().map(c -> c.endsWith("swtpm")).orElse(false))
                .filter(p -> p.info().commandLine().map(c -> c.contains(uuid)).orElse(false)).toList()).orElse(List.of());
    }

    private static boolean mountTmpfs(Path at) {
        try {
            Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + STATE_TMPFS_SIZE + ",mode=0700", "vtpmback-faults",
                    at.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                return true;
            }
            System.out.println("   note: cannot mount a tmpfs on " + at + " (" + out.trim() + "); no ENOSPC case");
        } catch (IOException | InterruptedException e) {
            System.out.println("   note: cannot mount a tmpfs on " + at + " (" + e + "); no ENOSPC case");
        }
        return false;
    }

    @Override
    public void close() throws Exception {
        if (neighbour != null) {
            neighbour.close();
        }
        if (host != null) {
            host.close();
        }
        if (daemon != null) {
            daemon.close();
        }
        xsd.close();
        // swtpm processes of a daemon that died are orphans now: end those of this host's runtime folder.
        String run = runtimeDir.toString();
        ProcessHandle.allProcesses().filter(p -> p.info().commandLine().map(c -> c.contains("swtpm") && c.contains(run)).orElse(false))
                .forEach(ProcessHandle::destroyForcibly);
        if (stateOnTmpfs) {
            Process p = new ProcessBuilder("umount", stateDir.toString()).inheritIO().start();
            p.waitFor(30, TimeUnit.SECONDS);
        }
        if (!runtimeDir.startsWith(dir)) {
            try (var files = Files.walk(runtimeDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }
}
