package org.vtpmback.test.faults.guest;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.xenstored.GuestRingConnection;
import org.vtpmback.test.xenstored.XsErrorException;
import org.vtpmback.xenstore.XenbusState;

/**
 * Hostile xenstore writes over the guest's own xenstored connection ({@link XenstoreFuzzer}) at a
 * device that first connected properly. Counts: requests, those xenstored refused (by errno), the
 * backend's state changes and swtpm starts they caused (from the daemon's log), and how the device
 * ends: after the storm the guest connects properly once more; it must get a working vTPM or a
 * failed device with an error node, and {@code xl destroy} must still see Closed within libxl's 10 s.
 */
final class XenstoreCase {
    private XenstoreCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        long logStart = h.daemon.logSize();
        RogueGuest rogue = h.connectedRogue();
        GuestRingConnection xs = rogue.xenstore();
        XenstoreFuzzer fuzzer = new XenstoreFuzzer(o.seed() ^ 0x85L, rogue.frontendPath(), rogue.backendPath().value());
        Map<String, Integer> refused = new TreeMap<>();
        long requests = 0;
        long accepted = 0;
        long transport = 0;
        try {
            for (long step = 0; requests < o.writes() && h.daemon.isAlive(); step++) {
                for (XenstoreFuzzer.Request r : fuzzer.next(rogue.ringRef(), rogue.port())) {
                    requests++;
                    try {
                        r.apply(xs);
                        accepted++;
                    } catch (XsErrorException e) {
                        refused.merge(e.errnoName(), 1, Integer::sum);
                    } catch (UncheckedIOException e) {
                        transport++;
                    }
                }
                if (step % 64 == 0) {
                    while (xs.awaitWatchEvent(Duration.ZERO) != null) {
                        // the guest's own watch events: dropped
                    }
                }
                if (o.longProfile() && (step + 1) % 1000 == 0) {
                    System.out.printf("   xenstore: %d steps, %d requests, daemon %s%n", step + 1, requests, h.daemon.peaks().format());
                }
            }
            // The storm is over: a proper connect from scratch.
            xs.write(rogue.frontendPath() + "/state", XenbusState.CLOSED.wire());
            rogue.awaitBackend(XenbusState.CLOSED, Duration.ofSeconds(30));
            xs.write(rogue.frontendPath() + "/state", XenbusState.INITIALISING.wire());
            rogue.awaitBackend(XenbusState.INIT_WAIT, Duration.ofSeconds(30));
            boolean connected = rogue.connect(FaultHost.CONNECT_WAIT);
            Optional<String> error = rogue.errorNode();
            boolean works = false;
            if (connected) {
                Optional<byte[]> r = rogue.exchange(TpmCommands.getRandom(8), Duration.ofSeconds(30));
                works = r.isPresent() && Tpm2.rc(r.get()) == 0;
            }
            line.put("end_state", connected ? (works ? "connected-working" : "connected-not-answering")
                    : "backend-" + rogue.backendState().orElse("absent") + (error.isPresent() ? "-with-error-node" : ""));
            line.flag("end_defined", works || (!connected && error.isPresent()), true);
        } finally {
            line.flag("destroy_closed_in_10s", rogue.destroy(), true);
        }
        String log = h.daemon.logSince(logStart);
        String device = "domain " + rogue.domid + " vtpm 0";
        List<String> own = log.lines().filter(l -> l.contains(device)).toList();
        line.put("requests", requests).put("accepted", accepted)
                .put("refused", refused.toString().replace(" ", "").replace("{", "").replace("}", "").replace(',', '/'))
                .put("backend_state_changes", own.stream().filter(l -> l.contains("backend state ->")).count())
                .put("swtpm_starts", log.lines().filter(l -> l.contains("] started (")).count())
                .put("rogue_log_lines", own.size());
        line.count("xenstore_transport_errors", transport, 0);
    }
}
