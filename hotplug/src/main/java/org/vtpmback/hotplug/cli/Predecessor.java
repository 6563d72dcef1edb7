package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A successor daemon's side of a reload (see {@link Successor}): once warm, it says so on the socket named
 * in {@link Successor#ENV} and waits for the running daemon's {@code go}, sent after that daemon has
 * detached from its guests and made this process systemd's main one. No {@code go} (the old daemon died,
 * or gave up) means this process must not serve: a daemon restarted by systemd will, and two must never.
 */
final class Predecessor {
    /** The old daemon detaches first: up to VtpmDaemon's 30 s for the guests' in-flight commands, and more under load. */
    static final Duration GO_TIMEOUT = Duration.ofSeconds(120);

    private final Path socket;

    private Predecessor(Path socket) {
        this.socket = socket;
    }

    /** Thrown when the hand-over did not happen: this process exits without serving. */
    static final class HandoverFailed extends Exception {
        private static final long serialVersionUID = 1L;

        HandoverFailed(String message) {
            super(message);
        }
    }

    /** Present when this daemon was started by a running one's reload. */
    static Optional<Predecessor> fromEnvironment(Map<String, String> env) {
        return Optional.ofNullable(env.get(Successor.ENV)).filter(s -> !s.isEmpty()).map(Path::of).map(Predecessor::new);
    }

    /** Says {@code warm <pid>} and waits for {@code go}; returns once this process may take the daemon lock. */
    void handOver() throws HandoverFailed {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer warm = ByteBuffer.wrap(("warm " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII));
            while (warm.hasRemaining()) {
                ch.write(warm);
            }
            String answer = readLine(ch);
            if (!answer.equals("go")) {
                throw new HandoverFailed("the running daemon answered '" + OneLineFormatter.escape(answer) + "' on " + socket
                        + " instead of 'go'; not serving");
            }
        } catch (IOException e) {
            throw new HandoverFailed("the hand-over with the running daemon on " + socket + " failed (" + e
                    + "); not serving: it keeps serving, or systemd restarts the service");
        }
    }

    /** One line, within {@link #GO_TIMEOUT}; a channel cannot time out a read, so a timer closes it. */
    private String readLine(SocketChannel ch) throws IOException, HandoverFailed {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vtpmback-handover-timeout");
            t.setDaemon(true);
            return t;
        });
        ScheduledFuture<?> timeout = timer.schedule(() -> {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the read fails either way
            }
        }, GO_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        try {
            ByteBuffer buf = ByteBuffer.allocate(16);
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    throw new HandoverFailed("the running daemon closed " + socket + " without saying 'go' (it gave up the"
                            + " hand-over or died); not serving");
                }
                String s = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII);
                int nl = s.indexOf('\n');
                if (nl >= 0) {
                    return s.substring(0, nl);
                }
            }
            throw new HandoverFailed("over-long answer on " + socket + "; not serving");
        } catch (java.nio.channels.AsynchronousCloseException e) {
            throw new HandoverFailed("no 'go' from the running daemon on " + socket + " within " + GO_TIMEOUT.toSeconds()
                    + " s; not serving");
        } finally {
            timeout.cancel(false);
            timer.shutdownNow();
        }
    }
}
