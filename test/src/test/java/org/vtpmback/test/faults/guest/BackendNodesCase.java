package org.vtpmback.test.faults.guest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.xenstored.GuestRingConnection;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.test.xenstored.XsErrorException;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;

/**
 * A connected guest tries, over its own xenstored connection, to write, delete or re-own its
 * backend's nodes ({@code state}, {@code resume}, {@code uuid}, {@code frontend}, {@code online},
 * the {@code error} nodes) and its neighbour's nodes, on the real cxenstored and oxenstored, each
 * with its own daemon: every request must be refused with EACCES, the backend's nodes must read as
 * before, the daemon must log nothing about the device meanwhile, and the vTPM must still answer.
 */
final class BackendNodesCase {
    private static final List<String> KEYS = List.of("state", "resume", "uuid", "frontend", "frontend-id", "online", "handle");

    private BackendNodesCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        attack(h, o, line, "c");
        // Starting a second xenstored and daemon JVM is no attack: the neighbour's attack window ends here.
        h.neighbour.window("backend-nodes-ocaml");
        try (FaultHost ocaml = FaultHost.start("ocaml", XenstoredDaemon.Flavour.OCAML, o.work().resolve("ocaml"), o, false)) {
            attack(ocaml, o, line, "ocaml");
            line.count("ocaml_crashes", ocaml.daemon.crashes(), 0);
        }
    }

    private static void attack(FaultHost h, FaultOptions o, CaseLine line, String flavour) throws Exception {
        int neighbour = h.neighbour.guest().domid();
        try (RogueGuest rogue = h.connectedRogue()) {
            XsPath be = rogue.backendPath();
            String b = be.value();
            String errorNode = "/local/domain/0/error/backend/vtpm/" + rogue.domid + "/0/error";
            XenStore dom0 = h.host.xenstore();
            Map<String, Optional<String>> before = snapshot(dom0, be);
            long logStart = h.daemon.logSize();
            List<XenstoreFuzzer.Request> requests = new ArrayList<>();
            for (String s : List.of("0", "1", "2", "3", "4", "5", "6")) {
                requests.add(xs -> xs.write(b + "/state", s));
            }
            requests.add(xs -> xs.write(b + "/resume", "True"));
            requests.add(xs -> xs.write(b + "/uuid", UUID.randomUUID().toString()));
            requests.add(xs -> xs.write(b + "/frontend", "/local/domain/" + neighbour + "/device/vtpm/0"));
            requests.add(xs -> xs.write(b + "/frontend-id", Integer.toString(neighbour)));
            requests.add(xs -> xs.write(b + "/online", "0"));
            requests.add(xs -> xs.write(b + "/error", "forged"));
            requests.add(xs -> xs.write(errorNode, "forged"));
            requests.add(xs -> xs.rm(b + "/state"));
            requests.add(xs -> xs.rm(b + "/uuid"));
            requests.add(xs -> xs.rm(b));
            requests.add(xs -> xs.mkdir(b + "/extra"));
            requests.add(xs -> xs.setPerms(b, "n" + rogue.domid));
            requests.add(xs -> xs.write("/local/domain/" + neighbour + "/device/vtpm/0/state", "5"));
            requests.add(xs -> xs.write("/local/domain/0/backend/vtpm/" + neighbour + "/0/state", "5"));
            requests.add(xs -> {
                int tx = xs.transactionStart();
                try {
                    xs.write(tx, b + "/state", "5");
                } finally {
                    xs.transactionEnd(tx, false);
                }
            });
            GuestRingConnection xs = rogue.xenstore();
            long attempts = 0;
            long eacces = 0;
            Map<String, Integer> other = new TreeMap<>();
            for (int round = 0; round < o.nodeRounds(); round++) {
                for (XenstoreFuzzer.Request r : requests) {
                    attempts++;
                    try {
                        r.apply(xs);
                        other.merge("accepted", 1, Integer::sum);
                    } catch (XsErrorException e) {
                        if (e.errnoName().equals("EACCES")) {
                            eacces++;
                        } else {
                            other.merge(e.errnoName(), 1, Integer::sum);
                        }
                    }
                }
            }
            Map<String, Optional<String>> after = snapshot(dom0, be);
            Optional<byte[]> r = rogue.exchange(TpmCommands.getRandom(8), Duration.ofSeconds(30));
            String device = "domain " + rogue.domid + " vtpm 0";
            // The connect's own last lines may land just after the backend wrote Connected: not reactions.
            long reactions = h.daemon.logSince(logStart).lines().filter(l -> l.contains(device))
                    .filter(l -> !l.contains("connected (grant") && !l.contains("-> CONNECTED")).count();
            line.put(flavour + "_attempts", attempts);
            line.count(flavour + "_eacces", eacces, attempts);
            if (!other.isEmpty()) {
                line.put(flavour + "_other", other.toString().replace(" ", ""));
            }
            line.flag(flavour + "_backend_nodes_unchanged", before.equals(after), true);
            if (!before.equals(after)) {
                System.out.println("   " + flavour + ": backend nodes before " + before + ", after " + after);
            }
            line.count(flavour + "_daemon_reactions", reactions, 0);
            line.flag(flavour + "_vtpm_answers", r.isPresent() && Tpm2.rc(r.get()) == 0, true);
            line.flag(flavour + "_destroy_closed_in_10s", rogue.destroy(), true);
        }
    }

    private static Map<String, Optional<String>> snapshot(XenStore dom0, XsPath be) {
        Map<String, Optional<String>> m = new LinkedHashMap<>();
        for (String k : KEYS) {
            m.put(k, dom0.read(be.child(k)));
        }
        m.put("extra", dom0.read(be.child("extra")));
        m.put("perms", Optional.of(dom0.permissions(be).toString()));
        return m;
    }
}
