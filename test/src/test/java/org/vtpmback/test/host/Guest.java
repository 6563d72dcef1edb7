package org.vtpmback.test.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.vtpmback.test.emulator.FrontendEmulator;
import org.vtpmback.test.emulator.SwtpmSocketServer;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xenstore.XenbusState;

/** One emulated domain with a vtpm device on a {@link SimulatedVtpmHost}. */
public final class Guest {
    /** How long one look at the frontend state blocks on its watch inside the progress-following wait. */
    private static final Duration WATCH_SLICE = Duration.ofMillis(250);
    private final SimulatedVtpmHost host;
    private final int domid;
    private final String uuid;
    private final FrontendEmulator frontend;
    private SwtpmSocketServer socket;

    Guest(SimulatedVtpmHost host, int domid, String uuid) {
        this.host = host;
        this.domid = domid;
        this.uuid = uuid;
        this.frontend = new FrontendEmulator(host.xenstore(), host.simulation(), domid, 0, SimulatedVtpmHost.BACKEND_DOMID);
    }

    /**
     * The daemon gave up on this guest's device (as xenbus_dev_fatal does: the reason in the backend's {@code error}
     * node, the backend Closing or Closed): the frontend will never connect, so the wait for it ends at once.
     */
    public static final class DeviceFailed extends IllegalStateException {
        private static final long serialVersionUID = 1L;
        private final String reason;

        DeviceFailed(int domid, String reason, String states) {
            super("domain " + domid + ": the backend failed the device (" + states + "): " + reason);
            this.reason = reason;
        }

        /** The backend's {@code error} node as the daemon wrote it ("<errno> <message>"). */
        public String reason() {
            return reason;
        }
    }

    /**
     * Probes and waits for Connected for as long as the daemon works on it (a first connect manufactures the vTPM).
     *
     * @throws DeviceFailed as soon as the daemon fails the device (a refused resume, a state that does not load):
     *     the frontend then stays Closed, and following child processes' CPU would wait for {@link ProgressWait#CAP}
     *     (the test's xenstored answers this wait's own reads, and a daemon in a JVM of its own uses some CPU even
     *     when idle: either counts as progress)
     */
    void probe() throws Exception {
        frontend.probe();
        ProgressWait.await("domain " + domid + ": frontend connected", this::connectedOrFailed,
                () -> "frontend " + frontend.state() + ", backend " + host.toolstack().backendState(domid, 0));
    }

    private boolean connectedOrFailed() throws InterruptedException {
        if (frontend.awaitConnected(WATCH_SLICE)) {
            return true;
        }
        Optional<String> failure = host.deviceFailure(domid, 0);
        if (failure.isPresent()) {
            throw new DeviceFailed(domid, failure.get(), "frontend " + frontend.state() + ", backend "
                    + host.toolstack().backendState(domid, 0).map(Object::toString).orElse("gone"));
        }
        return false;
    }

    /** {@code xl unpause} of a domain made by {@link SimulatedVtpmHost#create}: the frontend probes and connects. */
    public void unpause() throws Exception {
        probe();
    }

    public int domid() {
        return domid;
    }

    public String uuid() {
        return uuid;
    }

    public FrontendEmulator frontend() {
        return frontend;
    }

    /** One raw TPM command through the whole path. */
    public byte[] transmit(byte[] command) throws IOException {
        return frontend.transmit(command, SimulatedVtpmHost.WAIT);
    }

    /** Runs a tpm2-tools command against this guest's TPM; returns stdout, fails on a non-zero exit. */
    public String tpm2(String... args) throws Exception {
        if (socket == null) {
            socket = SwtpmSocketServer.start(host.work().resolve("tpm-" + domid + ".sock"), frontend, SimulatedVtpmHost.WAIT);
        }
        List<String> cmd = new ArrayList<>(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("TPM2TOOLS_TCTI", "swtpm:path=" + socket.dataSocket());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", args) + " hung");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", args) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }

    /**
     * Guest poweroff or reboot as Linux and xl do it: the frontend closes (Closing, then Closed when
     * the backend follows), the domain shuts down with {@code reason}, then libxl destroys it.
     */
    public void shutdown(ShutdownReason reason) throws Exception {
        host.xenstore().write(frontend.frontendPath().child("state"), XenbusState.CLOSING.wire());
        if (!frontend.awaitState(XenbusState.CLOSED, SimulatedVtpmHost.WAIT)) {
            throw new IllegalStateException("domain " + domid + ": frontend did not close (backend "
                    + host.toolstack().backendState(domid, 0) + ")");
        }
        host.domains().record(domid, Optional.of(reason));
        destroyDomain();
    }

    /** {@code xl save}: the guest suspends (no xenbus change), then libxl destroys the domain. */
    public void suspend() throws Exception {
        host.domains().record(domid, Optional.of(ShutdownReason.SUSPEND));
        destroyDomain();
    }

    /** {@code xl destroy} of the running domain. */
    public boolean destroy() throws Exception {
        return destroyDomain();
    }

    private boolean destroyDomain() throws Exception {
        closeSocket();
        boolean closedInTime = host.toolstack().destroyDomain(domid, 0);
        frontend.close();
        if (!closedInTime) {
            throw new IllegalStateException("domain " + domid + ": backend did not reach Closed within libxl's 10 s");
        }
        return closedInTime;
    }

    private void closeSocket() throws IOException {
        if (socket != null) {
            socket.close();
            socket = null;
        }
    }

    void closeQuietly() {
        try {
            closeSocket();
        } catch (IOException e) {
            // test teardown
        }
        frontend.close();
    }

    public Path work() {
        return host.work();
    }
}
