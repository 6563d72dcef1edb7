package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The running daemon's side of a reload (SIGHUP): it starts the next daemon, the successor, with the same
 * command line, and keeps serving while the successor's JVM starts and loads what it can without the
 * daemon lock. The successor connects to {@code <runtime-dir>/handover.sock} and says {@code warm <pid>};
 * only then does this daemon detach from its guests (their swtpm processes stay), make the successor
 * systemd's main process ({@code MAINPID=}) and answer {@code go}; the successor takes the lock and the
 * swtpm processes over. The guests' commands wait only for that detach and take-over, never for a JVM
 * start, so a reload costs no guest a command even where the JVM starts slowly (emulation, a loaded dom0).
 *
 * <p>The protocol is two lines on a socket in the root-only runtime-dir; the pid in the first must be the
 * process this daemon started. Used by one reload thread at a time.
 */
final class Successor implements AutoCloseable {
    /** Set in the successor's environment: the socket to report to (see {@link Predecessor}). */
    static final String ENV = "VTPMBACK_HANDOVER";
    /** The launcher script sets it to its own path, so that a successor runs what is installed now (an upgrade). */
    static final String LAUNCHER_ENV = "VTPMBACK_LAUNCHER";
    static final String SOCKET = "handover.sock";
    private static final Duration POLL = Duration.ofMillis(20);

    private final Process process;
    private final ServerSocketChannel server;
    private final Path socket;
    private SocketChannel peer;

    private Successor(Process process, ServerSocketChannel server, Path socket) {
        this.process = process;
        this.server = server;
        this.socket = socket;
    }

    /** Why a successor did not become warm: the daemon keeps serving and says this. */
    static final class NotWarm extends Exception {
        private static final long serialVersionUID = 1L;

        NotWarm(String message) {
            super(message);
        }
    }

    /** Listens on {@code <runtimeDir>/handover.sock} and starts {@code command} told to report there. */
    static Successor start(List<String> command, Path runtimeDir) throws IOException {
        Path socket = runtimeDir.resolve(SOCKET);
        Files.deleteIfExists(socket); // left by a daemon that died during a reload
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socket));
            server.configureBlocking(false);
            ProcessBuilder pb = new ProcessBuilder(command).inheritIO(); // its log goes where ours does (the journal)
            pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            Map<String, String> env = pb.environment();
            env.put(ENV, socket.toString());
            // systemd's WATCHDOG_PID names this process: sd_watchdog_enabled(3) in the successor would say "not
            // for me". Without it WATCHDOG_USEC applies to whoever reads it: the successor, once it is MAINPID.
            env.remove("WATCHDOG_PID");
            return new Successor(pb.start(), server, socket);
        } catch (IOException | RuntimeException e) {
            server.close();
            Files.deleteIfExists(socket);
            throw e;
        }
    }

    /**
     * The command line that runs this daemon again: the launcher script (what is installed now, so an upgrade
     * reloads into the new version) when it started us, else this JVM's own command line (tests, a hand start).
     */
    static List<String> commandLine(Map<String, String> env, Invocation inv) {
        List<String> cmd = new ArrayList<>();
        String launcher = env.get(LAUNCHER_ENV);
        if (launcher != null && !launcher.isEmpty()) {
            cmd.add(launcher);
        } else {
            cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString()));
            cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        }
        cmd.add(inv.command());
        inv.config().ifPresent(file -> cmd.addAll(List.of("--config", file.toString())));
        inv.overrides().forEach(o -> cmd.addAll(List.of("--set", o)));
        return cmd;
    }

    long pid() {
        return process.pid();
    }

    /**
     * Waits until the successor says it is warm. Throws if it exits first (a configuration error, say: its own
     * lines say why) or is not warm within {@code timeout} (then it is killed).
     */
    void awaitWarm(Duration timeout) throws NotWarm, IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer line = ByteBuffer.allocate(64);
        while (true) {
            if (peer == null) {
                peer = server.accept();
                if (peer != null) {
                    peer.configureBlocking(false);
                }
            }
            if (peer != null && peer.read(line) < 0) {
                throw new NotWarm("the successor (pid " + pid() + ") closed the hand-over socket without saying it is warm");
            }
            Optional<String> said = firstLine(line);
            if (said.isPresent()) {
                if (!said.get().equals("warm " + pid())) {
                    throw new NotWarm("unexpected hand-over message on " + socket + ": "
                            + OneLineFormatter.escape(said.get()) + " (expected 'warm " + pid() + "')");
                }
                return;
            }
            if (!line.hasRemaining()) {
                throw new NotWarm("hand-over message on " + socket + " longer than " + line.capacity() + " bytes");
            }
            if (!process.isAlive()) {
                throw new NotWarm("the successor (pid " + pid() + ") exited with status " + process.exitValue()
                        + " before it was ready; its own lines above say why");
            }
            if (System.nanoTime() - deadline > 0) {
                process.destroyForcibly();
                throw new NotWarm("the successor (pid " + pid() + ") was not ready within " + timeout.toSeconds() + " s; killed it");
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    private static Optional<String> firstLine(ByteBuffer buf) {
        byte[] b = buf.array();
        for (int i = 0; i < buf.position(); i++) {
            if (b[i] == '\n') {
                return Optional.of(new String(b, 0, i, StandardCharsets.US_ASCII));
            }
        }
        return Optional.empty();
    }

    /** Tells the warm successor to take over: this daemon has detached and is about to release its lock. */
    void go() throws IOException {
        peer.configureBlocking(true);
        ByteBuffer go = ByteBuffer.wrap("go\n".getBytes(StandardCharsets.US_ASCII));
        while (go.hasRemaining()) {
            peer.write(go);
        }
    }

    boolean alive() {
        return process.isAlive();
    }

    /** Kills a successor that must not take over (it is not warm, or this daemon could not detach). */
    void abandon() {
        process.destroyForcibly();
    }

    @Override
    public void close() throws IOException {
        try {
            if (peer != null) {
                peer.close();
            }
            server.close();
        } finally {
            Files.deleteIfExists(socket);
        }
    }
}
