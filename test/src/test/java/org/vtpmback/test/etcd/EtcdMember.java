package org.vtpmback.test.etcd;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One etcd process of an {@link EtcdCluster}: its ports, data folder and log, and what a test does to it
 * (SIGKILL, SIGSTOP, SIGCONT, start again on the same data). Not thread-safe: the test thread drives it.
 */
final class EtcdMember {
    private final String name;
    private final int clientPort;
    private final int peerPort;
    private final Path dataDir;
    private final Path log;
    private Process process;
    private boolean paused;

    EtcdMember(String name, int clientPort, int peerPort, Path dir) {
        this.name = name;
        this.clientPort = clientPort;
        this.peerPort = peerPort;
        this.dataDir = dir.resolve(name + ".data");
        this.log = dir.resolve(name + ".log");
    }

    String name() {
        return name;
    }

    URI clientUrl(boolean tls) {
        return URI.create((tls ? "https" : "http") + "://127.0.0.1:" + clientPort);
    }

    URI peerUrl() {
        return URI.create("http://127.0.0.1:" + peerPort);
    }

    Path dataDir() {
        return dataDir;
    }

    /** Starts the process (appending to its log); {@code args} are etcd's flags. */
    void start(List<String> args) throws IOException {
        if (isRunning()) {
            throw new IllegalStateException("etcd member " + name + " already runs (pid " + process.pid() + ")");
        }
        ProcessBuilder pb = new ProcessBuilder(args)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        process = pb.start();
        paused = false;
    }

    boolean isRunning() {
        return process != null && process.isAlive();
    }

    long pid() {
        return process == null ? -1 : process.pid();
    }

    /** SIGKILL and reap: the member dies without a goodbye (its data stays). */
    void kill() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("etcd member " + name + " (pid " + process.pid() + ") survived SIGKILL for 10 s");
        }
        paused = false;
    }

    /** SIGSTOP: the process holds its sockets but answers nothing (a hung member, or a partition). */
    void pause() throws IOException, InterruptedException {
        signal("STOP");
        paused = true;
        awaitAllThreadsStopped();
    }

    /**
     * kill(2) returns once SIGSTOP is sent, not once every thread of the (Go) process has stopped: a request sent at
     * once could still be answered by a thread not stopped yet (EtcdClusterTest saw it under load). Waits until the
     * kernel shows every thread stopped ('T' in /proc/PID/task/TID/stat).
     */
    private void awaitAllThreadsStopped() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(10).toNanos();
        Path tasks = Path.of("/proc", Long.toString(process.pid()), "task");
        while (true) {
            boolean allStopped = true;
            try (java.util.stream.Stream<Path> ids = Files.list(tasks)) {
                for (Path task : ids.toList()) {
                    String stat;
                    try {
                        stat = Files.readString(task.resolve("stat"));
                    } catch (IOException gone) {
                        continue; // a thread that ended meanwhile
                    }
                    allStopped &= stat.substring(stat.lastIndexOf(')') + 2).startsWith("T");
                }
            }
            if (allStopped) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(this + ": not every thread stopped within 10 s of SIGSTOP");
            }
            Thread.sleep(5);
        }
    }

    /** SIGCONT after {@link #pause}. */
    void resume() throws IOException, InterruptedException {
        signal("CONT");
        paused = false;
    }

    boolean isPaused() {
        return paused;
    }

    private void signal(String signal) throws IOException, InterruptedException {
        if (!isRunning()) {
            throw new IllegalStateException("etcd member " + name + " does not run; cannot send SIG" + signal);
        }
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IllegalStateException("kill -" + signal + " " + process.pid() + " exited " + kill.exitValue());
        }
    }

    /** The last {@code maxChars} of the member's log, for failure messages. */
    String logTail(int maxChars) {
        try {
            String s = Files.isRegularFile(log) ? Files.readString(log) : "(no log)";
            return s.length() > maxChars ? "..." + s.substring(s.length() - maxChars) : s;
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    @Override
    public String toString() {
        return "etcd member " + name + " (client :" + clientPort + ", peer :" + peerPort + ", pid " + pid()
                + (paused ? ", stopped" : "") + ")";
    }
}
