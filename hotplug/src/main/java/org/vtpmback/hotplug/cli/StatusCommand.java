package org.vtpmback.hotplug.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback status}: asks the running daemon over its control socket what each device is doing, and prints
 * it as a table or ({@code --json}) one JSON object. Fails (1) with what to do when no daemon answers.
 */
final class StatusCommand {
    static final String JSON = "--json";
    private static final String ROW = "%5s  %-16s  %5s  %-36s  %-6s  %-26s  %-13s  %8s  %8s  %7s  %8s  %5s  %s";
    private static final int MAX_REPLY = 16 << 20;

    private StatusCommand() {
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        Path socket = config.runtimeDir().resolve(ControlServer.SOCKET);
        StatusReport.Decoded report;
        try {
            report = StatusReport.decode(ask(socket, ControlServer.STATUS));
        } catch (IOException e) {
            return Main.fail(inv, "no vtpmback daemon answers on " + socket + " (" + IoErrors.reason(e) + "): is it running"
                    + " ('systemctl status vtpmback'), and is runtime-dir the daemon's?");
        } catch (IllegalArgumentException e) {
            return Main.fail(inv, socket + ": " + e.getMessage());
        }
        if (inv.has(JSON)) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("daemon_pid", report.daemonPid());
            doc.put("version", report.version());
            doc.put("devices", report.devices());
            inv.out().println(Json.of(doc));
            return Main.OK;
        }
        int n = report.devices().size();
        inv.out().println("vtpmback " + report.version() + ", pid " + report.daemonPid() + ": " + n + (n == 1 ? " device" : " devices"));
        if (n > 0) {
            inv.out().println(String.format(ROW, "DOMID", "DOMAIN", "DEVID", "UUID", "FAMILY", "START MODE", "STATE", "COMMANDS",
                    "IDLE S", "SWTPM", "RSS KIB", "GEN", "STORE PROBLEM"));
            for (Map<String, Object> d : report.devices()) {
                inv.out().println(String.format(ROW, cells(d, StatusReport.FIELDS)));
            }
        }
        return Main.OK;
    }

    private static Object[] cells(Map<String, Object> d, List<String> fields) {
        return fields.stream().map(f -> Objects.toString(d.get(f), "-")).toArray();
    }

    /** Sends one request line and reads the whole answer (the daemon closes the connection after it). */
    static String ask(Path socket, String request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer out = ByteBuffer.wrap((request + "\n").getBytes(StandardCharsets.US_ASCII));
            while (out.hasRemaining()) {
                ch.write(out);
            }
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (ch.read(in) >= 0) {
                reply.write(in.array(), 0, in.position());
                in.clear();
                if (reply.size() > MAX_REPLY) {
                    throw new IOException("answer longer than " + MAX_REPLY + " bytes");
                }
            }
            return reply.toString(StandardCharsets.UTF_8);
        }
    }
}
