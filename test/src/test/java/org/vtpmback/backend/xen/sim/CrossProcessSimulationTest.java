package org.vtpmback.backend.xen.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.ring.TpmRequest;
import org.vtpmback.backend.ring.TpmResponses;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.MappedGrant;

/** The guest lives in another JVM: grants and ports must work through the folder alone. */
class CrossProcessSimulationTest {
    private static final int GUEST = 9;

    @TempDir
    Path root;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void backendServesAFrontendInAnotherProcess() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process guest = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                FrontendProcess.class.getName(), root.toString(), Integer.toString(GUEST))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        var directory = new SimulationDirectory(root);
        try (var out = new BufferedReader(new InputStreamReader(guest.getInputStream(), StandardCharsets.UTF_8));
                var channels = new SimulatedEventChannels(directory, 0)) {
            String[] ready = out.readLine().split(" ");
            assertEquals("READY", ready[0]);
            int ref = Integer.parseInt(ready[1]);
            int port = Integer.parseInt(ready[2]);

            CountDownLatch acknowledged = new CountDownLatch(1);
            try (MappedGrant mapped = new SimulatedGrantMapper(directory).map(GUEST, ref);
                    BoundPort bound = channels.bind(GUEST, port, p -> acknowledged.countDown())) {
                // The guest's notification was lost; find its request by scanning after the bind.
                SharedPage page = new SharedPage(mapped.page());
                assertEquals(PageState.SUBMIT, page.state());
                TpmRequest request = page.takeRequest();
                assertEquals(12, request.command().length);
                byte[] response = TpmResponses.tpm2Error(TpmResponses.TPM2_RC_FAILURE);
                page.writeResponse(response);
                bound.notifyRemote();

                assertEquals("RESPONSE 10", out.readLine());
                assertTrue(acknowledged.await(20, TimeUnit.SECONDS));
                byte[] seen = new byte[10];
                mapped.page().get(SharedPage.HEADER_SIZE, seen);
                assertArrayEquals(response, seen);
            }
        } finally {
            guest.getOutputStream().close(); // lets the guest exit
            if (!guest.waitFor(10, TimeUnit.SECONDS)) {
                guest.destroyForcibly();
            }
        }
    }
}
