package org.vtpmback.test.emulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * {@link SwtpmSocketServer} with real tpm2-tools (tpm2-tss swtpm TCTI over UNIX sockets) and a raw
 * client in the guest role: tool, then
 * {@link SwtpmSocketServer}, {@link FrontendEmulator}, the shared page, the test-only
 * {@link BackendStub} and a real swtpm, with xenstore on a real cxenstored.
 */
@UseXenstored(XenstoredDaemon.Flavour.C)
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SwtpmSocketServerTest {
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path tmp;
    EmulatorFixture fx;
    SwtpmSocketServer server;

    @BeforeEach
    void setUp(XenstoredDaemon xsd) throws Exception {
        fx = new EmulatorFixture(xsd, tmp).connected();
        server = SwtpmSocketServer.start(tmp.resolve("guest-tpm.sock"), fx.frontend, Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() throws Exception {
        System.out.println("swtpm TCTI ctrl requests: " + server.ctrlLog() + "; data connections "
                + server.dataConnections() + ", ctrl connections " + server.ctrlConnections() + "; data: " + server.dataLog());
        server.close();
        assertTrue(Files.notExists(server.dataSocket()) && Files.notExists(server.ctrlSocket()), "sockets removed");
        fx.close();
    }

    @Test
    void socketsAreOwnerOnly() throws IOException {
        for (Path p : List.of(server.dataSocket(), server.ctrlSocket())) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p.toString());
        }
    }

    @Test
    void getRandom() throws Exception {
        String out = run("tpm2_getrandom", "8", "--hex");
        assertTrue(out.trim().matches("[0-9a-f]{16}"), "16 hex digits, got: " + out);
        assertTrue(server.ctrlLog().contains("SET_LOCALITY(0)"), server.ctrlLog().toString());
        assertEquals(0, server.locality());
    }

    @Test
    void pcrExtendThenReadGivesTheExpectedDigest() throws Exception {
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("vtpmback".getBytes(StandardCharsets.UTF_8));
        String hex = HexFormat.of().formatHex(digest);
        run("tpm2_pcrextend", "16:sha256=" + hex);
        // PCR16 was all zero after Startup(CLEAR): new value = SHA-256(zeros || digest)
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(new byte[32]);
        sha.update(digest);
        String expected = "0x" + HexFormat.of().formatHex(sha.digest()).toUpperCase(Locale.ROOT);

        String out = run("tpm2_pcrread", "sha256:16");
        assertTrue(out.contains("16: " + expected), "expected " + expected + " in:\n" + out);
        int served = fx.stub.served();
        run("tpm2_pcrread", "sha256:16"); // every tool run reconnects; the server serves them in turn
        assertTrue(fx.stub.served() > served);
    }

    @Test
    void rawClientMaySplitACommandAndCtrlRefusesLifecycleCommands() throws Exception {
        try (SocketChannel ctrl = SocketChannel.open(UnixDomainSocketAddress.of(server.ctrlSocket()))) {
            assertEquals(1L << 3, exchange(ctrl, ByteBuffer.allocate(4).putInt(0, 0x01), 8).getLong(0), "caps");
            assertEquals(0x0a, exchange(ctrl, ByteBuffer.allocate(8).putInt(0, 0x02), 4).getInt(0), "no CMD_INIT");
            assertEquals(0x3d, exchange(ctrl, ByteBuffer.allocate(5).putInt(0, 0x05).put(4, (byte) 4), 4).getInt(0));
            assertEquals(0, exchange(ctrl, ByteBuffer.allocate(5).putInt(0, 0x05).put(4, (byte) 0), 4).getInt(0));
        }
        assertEquals(List.of("GET_CAPABILITY", "INIT (+4 bytes) refused", "SET_LOCALITY(4)", "SET_LOCALITY(0)"),
                server.ctrlLog());
        byte[] command = TpmPackets.tpm2GetRandom(8);
        try (SocketChannel data = SocketChannel.open(UnixDomainSocketAddress.of(server.dataSocket()))) {
            for (int i = 0; i < 2; i++) { // two commands on one connection, each in three pieces
                SwtpmSocketServer.writeFully(data, ByteBuffer.wrap(command, 0, 3));
                SwtpmSocketServer.writeFully(data, ByteBuffer.wrap(command, 3, 7));
                SwtpmSocketServer.writeFully(data, ByteBuffer.wrap(command, 10, 2));
                ByteBuffer header = ByteBuffer.allocate(10);
                assertTrue(SwtpmSocketServer.readFully(data, header));
                assertEquals(0, header.getInt(6));
                ByteBuffer rest = ByteBuffer.allocate(header.getInt(2) - 10);
                assertTrue(SwtpmSocketServer.readFully(data, rest));
                assertEquals(8, rest.getShort(0));
            }
        }
    }

    private static ByteBuffer exchange(SocketChannel ch, ByteBuffer request, int answerSize) throws IOException {
        SwtpmSocketServer.writeFully(ch, request);
        ByteBuffer answer = ByteBuffer.allocate(answerSize);
        assertTrue(SwtpmSocketServer.readFully(ch, answer));
        return answer;
    }

    /** Runs a tool with the swtpm TCTI on our socket; asserts exit code 0 and returns its stdout. */
    private String run(String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("TPM2TOOLS_TCTI", "swtpm:path=" + server.dataSocket());
        Path err = tmp.resolve("tool.err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes(); // ends when the tool exits
        assertTrue(p.waitFor(TOOL_TIMEOUT.toSeconds(), TimeUnit.SECONDS), String.join(" ", command) + " hangs");
        String stdout = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed: " + stdout + Files.readString(err));
        return stdout;
    }
}
