package org.vtpmback.test.faults.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.vtpmback.test.host.DaemonProcess;

/**
 * {@code vtpmback daemon} (host = simulated) in a JVM of its own that a fault harness cuts: started
 * cheaply (C1 only, class data sharing, serial GC, no perf data file) with extra environment (the
 * crashfs shim), its log in a file of its own for each life.
 */
final class CutDaemon {
    private static final Duration READY_WAIT = Duration.ofSeconds(90);

    private final Process process;
    private final Path log;

    private CutDaemon(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * Starts the daemon with state-dir {@code state}, runtime-dir {@code run}, extra JVM options and
     * environment; returns once it serves.
     */
    static CutDaemon start(Path xenstoredSocket, Path simDir, Path state, Path run, Path log, Map<String, String> env,
            List<String> jvmOptions) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss512k", "-Xlog:cds=error"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", jarsOnly(), "org.vtpmback.hotplug.cli.Main", "daemon"));
        List<String> settings = new ArrayList<>(List.of("host=simulated", "simulation-dir=" + simDir, "xenstored-socket="
                + xenstoredSocket, "state-dir=" + state, "runtime-dir=" + run, "master-key=" + state.resolve("master.key"),
                "default-tpm-family=2.0"));
        settings.addAll(DaemonProcess.jailSettings());
        for (String setting : settings) {
            cmd.addAll(List.of("--set", setting));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        CutDaemon daemon = new CutDaemon(p, log);
        long deadline = System.nanoTime() + READY_WAIT.toNanos();
        while (!daemon.log().contains("serving backend domain")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new IllegalStateException("vtpmback daemon " + (p.isAlive() ? "not ready in " + READY_WAIT : "exited "
                        + p.exitValue()) + "; log:\n" + daemon.log());
            }
            Thread.sleep(20);
        }
        return daemon;
    }

    /**
     * Starts {@code vtpmback <command...>} in a JVM of its own, with the daemon's settings for
     * {@code state} and {@code run} and extra environment (the crashfs shim); its output goes to
     * {@code log}. The caller waits for it (exit status 137 when the shim killed it).
     */
    static Process startCommand(Path state, Path run, Path log, Map<String, String> env, List<String> jvmOptions, List<String> command)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xlog:cds=error"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", jarsOnly(), "org.vtpmback.hotplug.cli.Main", command.get(0)));
        for (String setting : List.of("state-dir=" + state, "runtime-dir=" + run, "master-key=" + state.resolve("master.key"))) {
            cmd.addAll(List.of("--set", setting));
        }
        cmd.addAll(command.subList(1, command.size()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }

    /**
     * This JVM's class path without its folders (test classes): the daemon's modules are jars once
     * Maven has packaged them, and a class data archive accepts jars only.
     */
    private static String jarsOnly() {
        List<String> jars = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (Files.isRegularFile(Path.of(entry))) {
                jars.add(entry);
            }
        }
        return String.join(java.io.File.pathSeparator, jars);
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String log() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /** Waits for the daemon to die by itself (the shim's kill point); false if it still runs after {@code timeout}. */
    boolean awaitDeath(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** SIGKILL, and wait until it is gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("vtpmback daemon pid " + process.pid() + " survived SIGKILL");
        }
    }

    /** SIGTERM, as systemctl stop. */
    void stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(45, TimeUnit.SECONDS)) {
            kill();
        }
    }
}
