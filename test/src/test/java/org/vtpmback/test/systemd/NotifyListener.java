package org.vtpmback.test.systemd;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * systemd's side of sd_notify(3) for tests: a real AF_UNIX datagram socket (JDK 17 has none, so a small
 * python3 process, {@code notify-listener.py}, owns it) whose datagrams arrive here in order. Pass
 * {@link #socket()} to the daemon as {@code NOTIFY_SOCKET}.
 */
final class NotifyListener implements AutoCloseable {
    /** One datagram: its sender (from the kernel), whether the listener stopped it (READY=1), its assignments. */
    record Notification(long pid, boolean stopped, List<String> assignments) {
        boolean has(String assignment) {
            return assignments.contains(assignment);
        }

        Optional<String> value(String key) {
            return assignments.stream().filter(a -> a.startsWith(key + "=")).map(a -> a.substring(key.length() + 1)).findFirst();
        }
    }

    private final Process process;
    private final Path socket;
    private final BlockingQueue<Notification> received = new LinkedBlockingQueue<>();

    private NotifyListener(Process process, Path socket) {
        this.process = process;
        this.socket = socket;
    }

    /** Listens at {@code socket}; with {@code stopOnReady} the sender of READY=1 is SIGSTOPped on arrival. */
    static NotifyListener start(Path socket, boolean stopOnReady) throws IOException {
        Path script = Path.of(resource("notify-listener.py"));
        Process p = new ProcessBuilder("python3", script.toString(), socket.toString(), stopOnReady ? "stop-on-ready" : "plain")
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        NotifyListener listener = new NotifyListener(p, socket);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String first = out.readLine();
        if (!"listening".equals(first)) {
            p.destroyForcibly();
            throw new IOException("notify-listener.py did not start: " + first);
        }
        Thread reader = new Thread(() -> listener.read(out), "notify-listener");
        reader.setDaemon(true);
        reader.start();
        return listener;
    }

    private static String resource(String name) {
        try {
            return Path.of(NotifyListener.class.getResource(name).toURI()).toString();
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private void read(BufferedReader out) {
        try {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                String[] f = line.split(" ", 3);
                String state = f.length > 2 ? f[2] : "";
                List<String> assignments = List.of(state.split("\\\\n")).stream().map(a -> a.replace("\\\\", "\\")).toList();
                received.add(new Notification(Long.parseLong(f[0]), f[1].equals("1"), assignments));
            }
        } catch (IOException e) {
            // the listener was closed
        }
    }

    Path socket() {
        return socket;
    }

    /** The next datagram, waiting at most {@code timeout}; empty if none came. */
    Optional<Notification> next(Duration timeout) throws InterruptedException {
        return Optional.ofNullable(received.poll(timeout.toMillis(), TimeUnit.MILLISECONDS));
    }

    /** Skips datagrams until one has {@code assignment}; empty if none within {@code timeout}. */
    Optional<Notification> await(String assignment, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (long left = timeout.toNanos(); left > 0; left = deadline - System.nanoTime()) {
            Optional<Notification> n = next(Duration.ofNanos(left));
            if (n.isPresent() && n.get().has(assignment)) {
                return n;
            }
        }
        return Optional.empty();
    }

    /** Drops what arrived so far. */
    void clear() {
        received.clear();
    }

    @Override
    public void close() {
        process.destroy();
    }
}
