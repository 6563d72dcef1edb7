package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * The daemon's control socket, {@code <runtime-dir>/control.sock}: root only (runtime-dir is 0700), one request
 * per connection, answered by one thread. Today one request, {@code status}: the {@link StatusReport} of every
 * device. A client gets {@link #REQUEST_WAIT} to send its line, so a stuck one delays only other status
 * requests, never a guest (the socket is served by a thread of its own, outside the worker pool).
 */
final class ControlServer implements AutoCloseable {
    static final String SOCKET = "control.sock";
    static final String STATUS = "status";
    private static final Duration REQUEST_WAIT = Duration.ofSeconds(2);
    private static final System.Logger LOG = System.getLogger("vtpmback");

    private final ServerSocketChannel server;
    private final Path socket;
    private final Supplier<String> status;
    private final Thread thread;

    private ControlServer(ServerSocketChannel server, Path socket, Supplier<String> status) {
        this.server = server;
        this.socket = socket;
        this.status = status;
        this.thread = new Thread(this::serve, "vtpmback-control");
        this.thread.setDaemon(true);
    }

    /** Binds {@code <runtimeDir>/control.sock} (replacing one a dead daemon left) and serves {@code status}. */
    static ControlServer start(Path runtimeDir, Supplier<String> status) throws IOException {
        Path socket = runtimeDir.resolve(SOCKET);
        Files.deleteIfExists(socket); // only the lock holder gets here: any socket there is a dead daemon's
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            server.close();
            throw e;
        }
        ControlServer c = new ControlServer(server, socket, status);
        c.thread.start();
        return c;
    }

    private void serve() {
        while (server.isOpen()) {
            try (SocketChannel client = server.accept()) {
                answer(client);
            } catch (ClosedChannelException e) {
                return; // closed: the daemon stops or hands over
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.WARNING, "control socket {0}: {1}", socket, e.toString());
            }
        }
    }

    private void answer(SocketChannel client) throws IOException {
        String request = readLine(client);
        String reply = request.equals(STATUS) ? status.get()
                : "error: unknown request '" + OneLineFormatter.escape(request) + "' (known: " + STATUS + ")\n";
        client.configureBlocking(true);
        ByteBuffer out = ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
            client.write(out);
        }
    }

    /** One short line, within {@link #REQUEST_WAIT}. */
    private static String readLine(SocketChannel client) throws IOException {
        client.configureBlocking(false);
        ByteBuffer in = ByteBuffer.allocate(64);
        long deadline = System.nanoTime() + REQUEST_WAIT.toNanos();
        while (in.hasRemaining() && System.nanoTime() - deadline < 0) {
            if (client.read(in) < 0) {
                break;
            }
            String s = new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII);
            int nl = s.indexOf('\n');
            if (nl >= 0) {
                return s.substring(0, nl);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII).strip();
    }

    @Override
    public void close() throws IOException {
        try {
            server.close();
        } finally {
            Files.deleteIfExists(socket);
        }
    }
}
