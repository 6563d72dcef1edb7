package org.vtpmback.test.emulator;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serves an emulated guest's TPM on a swtpm-compatible pair of UNIX sockets, {@code <path>} (data)
 * and {@code <path>.ctrl} (control), so that tpm2-tss's swtpm TCTI ({@code swtpm:path=<path>}) and
 * thus tpm2-tools talk to it: a guest user-space TPM client on top of {@code /dev/tpm0}.
 *
 * <p>Data: one command per TPM header's paramSize, reassembled here however the client splits its
 * writes (the guest side; the page carries whole commands), then {@link FrontendEmulator#transmit}.
 * A frontend failure (timeout, cancel, device gone) closes the client's connection, which the TCTI
 * reports as an I/O error, as a failed {@code /dev/tpm0} read would. Control: see {@link CtrlChannel};
 * the TPM's lifecycle belongs to the backend, so CMD_INIT and friends are refused.
 *
 * <p>Clients are served one after another on each socket (each tpm2-tools run reconnects), one
 * daemon thread per socket, like swtpm. The creator closes the server, which removes both files.
 */
public final class SwtpmSocketServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(SwtpmSocketServer.class.getName());
    private static final int MAX_TPM_BUFFER = 4096;

    private final FrontendEmulator frontend;
    private final Duration commandTimeout;
    private final Path dataPath;
    private final Path ctrlPath;
    private final ServerSocketChannel data;
    private final ServerSocketChannel ctrl;
    private final CtrlChannel ctrlHandler;
    private final List<SocketChannel> clients = new CopyOnWriteArrayList<>();
    private final AtomicInteger dataConnections = new AtomicInteger();
    private final AtomicInteger ctrlConnections = new AtomicInteger();
    private final List<String> dataLog = new CopyOnWriteArrayList<>();
    private final Thread dataThread;
    private final Thread ctrlThread;
    private volatile boolean closed;

    private SwtpmSocketServer(FrontendEmulator frontend, Duration commandTimeout, Path dataPath) throws IOException {
        this.frontend = frontend;
        this.commandTimeout = commandTimeout;
        this.dataPath = dataPath;
        this.ctrlPath = dataPath.resolveSibling(dataPath.getFileName() + ".ctrl"); // the TCTI's fixed rule
        this.ctrlHandler = new CtrlChannel(frontend);
        this.data = bind(dataPath);
        try {
            this.ctrl = bind(ctrlPath);
        } catch (IOException e) {
            data.close();
            Files.deleteIfExists(dataPath);
            throw e;
        }
        this.dataThread = FrontendEmulator.daemon(() -> acceptLoop(data, dataConnections, this::serveData),
                "swtpm-srv-data-" + dataPath.getFileName());
        this.ctrlThread = FrontendEmulator.daemon(() -> acceptLoop(ctrl, ctrlConnections, ctrlHandler::serve),
                "swtpm-srv-ctrl-" + dataPath.getFileName());
        dataThread.start();
        ctrlThread.start();
    }

    /**
     * Binds {@code dataPath} and {@code dataPath + ".ctrl"} (mode 0600) and starts serving.
     *
     * @param commandTimeout passed to every {@link FrontendEmulator#transmit}
     */
    public static SwtpmSocketServer start(Path dataPath, FrontendEmulator frontend, Duration commandTimeout)
            throws IOException {
        return new SwtpmSocketServer(frontend, commandTimeout, dataPath);
    }

    public Path dataSocket() {
        return dataPath;
    }

    public Path ctrlSocket() {
        return ctrlPath;
    }

    /** What clients sent on the ctrl socket, e.g. {@code "SET_LOCALITY(0)"}, in order. */
    public List<String> ctrlLog() {
        return ctrlHandler.log();
    }

    /** The locality last set through CMD_SET_LOCALITY (0 until then). */
    public int locality() {
        return ctrlHandler.locality();
    }

    /** How many clients connected to the data / ctrl socket so far. */
    /** What happened on the data socket: {@code "connect"} and the command code of every command, in order. */
    public List<String> dataLog() {
        return List.copyOf(dataLog);
    }

    public int dataConnections() {
        return dataConnections.get();
    }

    public int ctrlConnections() {
        return ctrlConnections.get();
    }

    private static ServerSocketChannel bind(Path path) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
            return server;
        } catch (IOException e) {
            server.close();
            throw e;
        }
    }

    private interface Session {
        void serve(SocketChannel client) throws IOException;
    }

    private void acceptLoop(ServerSocketChannel server, AtomicInteger counter, Session session) {
        while (!closed) {
            SocketChannel client;
            try {
                client = server.accept();
            } catch (ClosedChannelException stopping) {
                return;
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "accept on " + server + " failed; stopping", e);
                return;
            }
            counter.incrementAndGet();
            clients.add(client);
            try (client) {
                session.serve(client);
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.DEBUG, "client dropped: " + e);
                }
            } finally {
                clients.remove(client);
            }
        }
    }

    /** One data client: header, rest of paramSize, transmit, response; until end-of-stream. */
    private void serveData(SocketChannel client) throws IOException {
        dataLog.add("connect");
        while (true) {
            ByteBuffer header = ByteBuffer.allocate(TpmPackets.HEADER_SIZE);
            if (!readFully(client, header)) {
                return; // the client closed between commands
            }
            long size = Integer.toUnsignedLong(header.getInt(2));
            if (size < TpmPackets.HEADER_SIZE || size > MAX_TPM_BUFFER) {
                // Cannot find the next command boundary: drop the client rather than guess.
                LOG.log(System.Logger.Level.WARNING, "closing data client: paramSize " + size);
                return;
            }
            ByteBuffer command = ByteBuffer.allocate((int) size).put(header.array());
            if (!readFully(client, command)) {
                throw new EOFException("client closed in the middle of a " + size + "-byte command");
            }
            dataLog.add("0x" + Integer.toHexString(command.getInt(6)));
            byte[] response;
            try {
                response = size > FrontendEmulator.MAX_COMMAND_SIZE
                        ? commandSizeError(command.array()) : frontend.transmit(command.array(), commandTimeout);
            } catch (TpmFrontendException | InterruptedIOException e) {
                LOG.log(System.Logger.Level.INFO, "TPM command failed in the frontend, closing client: " + e);
                return;
            }
            writeFully(client, ByteBuffer.wrap(response));
        }
    }

    /** What the TPM would say to an oversized command; the guest driver never lets it reach the page. */
    private static byte[] commandSizeError(byte[] command) {
        boolean tpm2 = TpmPackets.tag(command) == TpmPackets.TPM2_ST_NO_SESSIONS
                || TpmPackets.tag(command) == TpmPackets.TPM2_ST_SESSIONS;
        int tag = tpm2 ? TpmPackets.TPM2_ST_NO_SESSIONS : TpmPackets.TPM12_TAG_RSP;
        int rc = tpm2 ? 0x142 /* TPM_RC_COMMAND_SIZE */ : 0x19 /* TPM_BAD_PARAM_SIZE */;
        return ByteBuffer.allocate(TpmPackets.HEADER_SIZE).putShort((short) tag).putInt(TpmPackets.HEADER_SIZE)
                .putInt(rc).array();
    }

    /** Fills {@code buffer}; false on end-of-stream before the first byte, EOFException after it. */
    static boolean readFully(SocketChannel channel, ByteBuffer buffer) throws IOException {
        int start = buffer.position();
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                if (buffer.position() == start) {
                    return false;
                }
                throw new EOFException("end of stream after " + (buffer.position() - start) + " bytes");
            }
        }
        buffer.flip();
        return true;
    }

    static void writeFully(SocketChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /** Stops both threads, drops connected clients and removes the socket files. Idempotent. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        data.close();
        ctrl.close();
        for (SocketChannel c : clients) {
            c.close();
        }
        try {
            dataThread.join(5_000);
            ctrlThread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(dataPath);
        Files.deleteIfExists(ctrlPath);
    }
}
