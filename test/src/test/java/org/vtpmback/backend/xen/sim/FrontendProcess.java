package org.vtpmback.backend.xen.sim;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;

/**
 * A minimal guest run in its own JVM by {@link CrossProcessSimulationTest}: grants a page, allocates
 * a port, submits a command at once (before any backend bound, as Linux xen-tpmfront does), then
 * waits for the backend's FINISH and notifies back. Protocol on stdout: {@code READY <ref> <port>},
 * then {@code RESPONSE <length>} or {@code TIMEOUT}.
 */
public final class FrontendProcess {
    private FrontendProcess() {
    }

    public static void main(String[] args) throws Exception {
        var directory = new SimulationDirectory(Path.of(args[0]));
        int domid = Integer.parseInt(args[1]);
        try (var grant = new SimulatedGrantAllocator(directory, domid).allocate();
                var channel = SimulatedFrontendChannel.allocateUnbound(directory, domid, 0)) {
            byte[] command = {(byte) 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8}; // TPM2_GetRandom(8)
            ByteBuffer page = grant.page();
            page.put(SharedPage.HEADER_SIZE, command);
            page.putInt(0, command.length);
            page.put(4, (byte) PageState.SUBMIT.value());
            channel.notifyBackend(); // lost: nobody is bound yet
            System.out.println("READY " + grant.ref() + " " + channel.port());
            System.out.flush();

            boolean notified = channel.awaitNotification(Duration.ofSeconds(20));
            if (notified && page.get(4) == PageState.FINISH.value()) {
                System.out.println("RESPONSE " + page.getInt(0));
                channel.notifyBackend();
            } else {
                System.out.println("TIMEOUT");
            }
            System.out.flush();
            System.in.read(); // stay alive (port bound) until the test closes our stdin
        }
    }
}
