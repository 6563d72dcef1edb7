package org.vtpmback.test.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.vtpmback.backend.engine.SwtpmJail;

/**
 * {@code vtpmback daemon} in a process of its own (host = simulated), as an operator runs it, for the
 * tests that must kill it: the class path is this JVM's, the configuration comes as {@code --set}
 * options, the log goes to a file. Drive its guests with a {@link SimulatedVtpmHost} built on the same
 * xenstored and simulation directory, without {@code startDaemon()}.
 */
public final class DaemonProcess implements AutoCloseable {
    /** The daemon this test started; a reload's successor is no child of this JVM (see {@link #reload}). */
    private final java.util.Optional<Process> process;
    private final ProcessHandle handle;
    private final Path log;
    /** Where its swtpm processes work: {@code <runtime-dir>/instances}. */
    private final Path instancesDir;

    private DaemonProcess(java.util.Optional<Process> process, ProcessHandle handle, Path log, Path instancesDir) {
        this.process = process;
        this.handle = handle;
        this.log = log;
        this.instancesDir = instancesDir;
    }

    /**
     * The first swtpm uid of this test JVM's own range of {@link SwtpmJail#DEFAULT_UID_COUNT}: a daemon
     * (or {@code recoverAfterCrash}) kills every process in its range, so concurrent test runs on one
     * machine must not share one.
     */
    public static int testUidBase() {
        return SwtpmJail.DEFAULT_FIRST_UID + SwtpmJail.DEFAULT_UID_COUNT * (int) (1 + ProcessHandle.current().pid() % 4096);
    }

    /**
     * The jail settings ({@code --set} values) of every daemon a test starts: as root the jail on this JVM's own uid
     * range ({@link #testUidBase}), since a daemon's start kills every process of its range (on the default range it
     * would end the swtpm processes of any other daemon or test run on the machine); not root, no jail (it needs root).
     */
    public static List<String> jailSettings() {
        return isRoot() ? List.of("swtpm-uid-base=" + testUidBase()) : List.of("swtpm-jail=no");
    }

    /**
     * Starts the daemon with its state under {@code work} (state, run, master.key, as the in-process
     * {@link SimulatedVtpmHost#startDaemon()} lays them out) and waits for its readiness line.
     */
    public static DaemonProcess start(Path xenstoredSocket, Path simDir, Path work, String... extraSettings) throws IOException,
            InterruptedException {
        return start(xenstoredSocket, simDir, work, Map.of(), List.of(), extraSettings);
    }

    /**
     * {@link #start(Path, Path, Path, String...)} with {@code env} added to the daemon's environment (as
     * systemd passes NOTIFY_SOCKET) and {@code jvmOptions} before its main class.
     */
    public static DaemonProcess start(Path xenstoredSocket, Path simDir, Path work, Map<String, String> env, List<String> jvmOptions,
            String... extraSettings) throws IOException, InterruptedException {
        return start(xenstoredSocket, simDir, work, java.util.Optional.empty(), env, jvmOptions, extraSettings);
    }

    /** {@link #start(Path, Path, Path, Map, List, String...)} with {@code --config configFile} (a reload reads it again). */
    public static DaemonProcess start(Path xenstoredSocket, Path simDir, Path work, java.util.Optional<Path> configFile,
            Map<String, String> env, List<String> jvmOptions, String... extraSettings) throws IOException, InterruptedException {
        Path log = work.resolve("daemon.log");
        // SIGHUP back to its default: a suite started under nohup would otherwise hand its ignored SIGHUP down, and
        // the JVM cannot catch an ignored signal, so every reload test would wait for a hand-over that never comes
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=HUP",
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "org.vtpmback.hotplug.cli.Main", "daemon"));
        configFile.ifPresent(f -> cmd.addAll(List.of("--config", f.toString())));
        // runtime-dir may be given apart (a tmpfs, as /run on a host, while the state is on a disk)
        Path runtimeDir = java.util.Arrays.stream(extraSettings).filter(s -> s.startsWith("runtime-dir=")).findFirst()
                .map(s -> Path.of(s.substring("runtime-dir=".length()))).orElse(work.resolve("run"));
        for (String setting : List.of("host=simulated", "simulation-dir=" + simDir, "xenstored-socket=" + xenstoredSocket,
                "state-dir=" + work.resolve("state"), "master-key=" + work.resolve("state/master.key"))) {
            cmd.addAll(List.of("--set", setting));
        }
        if (runtimeDir.equals(work.resolve("run"))) {
            cmd.addAll(List.of("--set", "runtime-dir=" + runtimeDir));
        }
        for (String setting : jailSettings()) {
            cmd.addAll(List.of("--set", setting));
        }
        // no pool of ready-made TPMs unless the test asks for one: its background key generation is not theirs
        if (java.util.Arrays.stream(extraSettings).noneMatch(s -> s.startsWith("manufacture-pool="))) {
            cmd.addAll(List.of("--set", "manufacture-pool=0"));
        }
        for (String setting : extraSettings) {
            cmd.addAll(List.of("--set", setting));
        }
        Files.createDirectories(work);
        long logStart = Files.exists(log) ? Files.size(log) : 0;
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        Process p = pb.start();
        DaemonProcess daemon = new DaemonProcess(java.util.Optional.of(p), p.toHandle(), log, runtimeDir.resolve("instances"));
        try {
            // JVM start, crash recovery and survivors taken over: as long as the daemon (a child of this JVM) works
            ProgressWait.await("vtpmback daemon pid " + p.pid() + " ready", () -> {
                if (daemon.logSince(logStart).contains("serving backend domain")) {
                    return true;
                } else if (!p.isAlive()) {
                    throw new IllegalStateException("vtpmback daemon exited " + p.exitValue() + "; log:\n"
                            + daemon.logSince(logStart));
                }
                return false;
            }, () -> "log:\n" + daemon.logSinceQuietly(logStart));
        } catch (IOException | RuntimeException e) {
            p.destroyForcibly();
            throw e;
        }
        return daemon;
    }

    /** Whether this JVM runs as root: then daemons jail their swtpm, as on a real dom0. */
    public static boolean isRoot() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[2].equals("0"));
        } catch (IOException e) {
            return false;
        }
    }

    public long pid() {
        return handle.pid();
    }

    /**
     * SIGHUP, as {@code systemctl reload}: the daemon starts a successor and hands its guests over. Waits until
     * this daemon has exited and returns the successor (found by its "reload: handed over to pid" line).
     */
    public DaemonProcess reload() throws IOException, InterruptedException {
        long logStart = Files.size(log);
        Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IllegalStateException("kill -HUP " + pid() + " failed");
        }
        java.util.regex.Pattern handedOver = java.util.regex.Pattern.compile("reload: handed over to pid (\\d+)");
        long[] successor = {0};
        ProgressWait.await("vtpmback daemon pid " + pid() + " handing over", () -> {
            java.util.regex.Matcher m = handedOver.matcher(logSince(logStart));
            if (m.find()) {
                successor[0] = Long.parseLong(m.group(1));
                return !handle.isAlive();
            } else if (!handle.isAlive()) {
                throw new IllegalStateException("vtpmback daemon pid " + pid() + " exited without handing over; log:\n"
                        + logSince(logStart));
            }
            return false;
        }, () -> "log:\n" + logSinceQuietly(logStart));
        ProcessHandle next = ProcessHandle.of(successor[0]).orElseThrow(
                () -> new IllegalStateException("the successor pid " + successor[0] + " is gone; log:\n" + logSinceQuietly(logStart)));
        DaemonProcess daemon = new DaemonProcess(java.util.Optional.empty(), next, log, instancesDir);
        ProgressWait.await("successor pid " + next.pid() + " ready", () -> {
            if (daemon.logSince(logStart).contains("serving backend domain")) {
                return true;
            } else if (!next.isAlive()) {
                throw new IllegalStateException("the successor pid " + next.pid() + " exited; log:\n" + daemon.logSince(logStart));
            }
            return false;
        }, () -> "log:\n" + logSinceQuietly(logStart));
        return daemon;
    }

    /** The whole log file (every run of the daemon with this work folder). */
    public String log() throws IOException {
        return logSince(0);
    }

    private String logSinceQuietly(long offset) {
        try {
            return logSince(offset);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    private String logSince(long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        return new String(all, (int) Math.min(offset, all.length), (int) Math.max(0, all.length - offset), StandardCharsets.UTF_8);
    }

    /** Waits for the daemon to end by itself; its exit status, or empty if it still runs after {@code timeout}. */
    public java.util.OptionalInt awaitExit(Duration timeout) throws InterruptedException {
        Process p = process.orElseThrow(() -> new IllegalStateException("a reload's successor is no child of this JVM"));
        return p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? java.util.OptionalInt.of(p.exitValue())
                : java.util.OptionalInt.empty();
    }

    /** kill -9: no teardown of any kind, exactly as the OOM killer does it. */
    public void kill() throws InterruptedException {
        handle.destroyForcibly();
        if (!exited(Duration.ofSeconds(30))) {
            throw new IllegalStateException("vtpmback daemon pid " + handle.pid() + " survived SIGKILL");
        }
    }

    private boolean exited(Duration timeout) throws InterruptedException {
        try {
            handle.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * SIGTERM, as systemctl stop: the daemon detaches from its guests in order and leaves their swtpm
     * processes running for the next daemon.
     */
    public void stop() throws InterruptedException {
        handle.destroy();
        if (!exited(Duration.ofSeconds(45))) {
            handle.destroyForcibly();
            exited(Duration.ofSeconds(10));
        }
    }

    /** {@link #stop()}, then the swtpm processes it left are ended: the test is done with this daemon. */
    @Override
    public void close() throws InterruptedException {
        try {
            stop();
        } finally {
            LeftoverSwtpm.kill(instancesDir);
        }
    }
}
