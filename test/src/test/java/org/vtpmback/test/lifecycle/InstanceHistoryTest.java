package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;
import static org.vtpmback.test.lifecycle.GuestTpm.stored;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.backend.state.Uuid;

/**
 * One vTPM through its whole life (create, reboot, save, restore, local migration, daemon restart,
 * poweroff and boot), printing the start mode the daemon chose each time, why, and what it stored.
 */
@UseSimulatedHost
@Timeout(300)
class InstanceHistoryTest {
    @RegisterExtension
    final LogCapture logs = new LogCapture();
    final List<String> history = new ArrayList<>();
    final List<String> modes = new ArrayList<>();

    private void step(String what, int mark, SimulatedVtpmHost host, String uuid) throws Exception {
        history.add(what);
        for (String line : logs.lines().subList(mark, logs.size())) {
            if (line.contains("start mode") || line.contains("ended with") || line.contains("manufactured (")) {
                history.add("    " + line.substring(line.indexOf(": ") + 2).replace("vTPM " + uuid, "vTPM")
                        .replace(host.work().toString(), "<work>"));
            }
            if (line.contains("start mode")) {
                modes.add(line.replaceAll(".*start mode (\\w+).*", "$1"));
            }
        }
        InstanceRecord r = stored(host, uuid);
        history.add("    stored: generation " + r.generation() + ", last end " + r.lastEnd()
                + r.snapshot().map(s -> ", " + s.reason() + " snapshot (" + s.volatileState().length + " B volatile)").orElse(", no snapshot"));
    }

    @Test
    void oneInstancesHistory(SimulatedVtpmHost host) throws Exception {
        String uuid = UUID.randomUUID().toString();
        history.add("History of vTPM " + uuid + " (state file " + host.store().fileOf(Uuid.parse(uuid)).getFileName() + ")");

        int mark = logs.size();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("boot 1"));
        step("1. create: xl create (domain " + g.domid() + "), guest extends PCR 16", mark, host, uuid);

        mark = logs.size();
        g.shutdown(ShutdownReason.REBOOT);
        awaitEnded(host, uuid);
        g = host.boot(uuid);
        assertEquals(ZERO32, pcr(g, 16));
        pcr16 = extend(g, 16, ZERO32, sha256Hex("boot 2"));
        step("2. reboot: guest reboots, xl re-creates it as domain " + g.domid() + "; PCR 16 was zero again", mark, host, uuid);

        mark = logs.size();
        int savedFrom = g.domid();
        g.suspend();
        awaitEnded(host, uuid);
        step("3. save: xl save of domain " + savedFrom, mark, host, uuid);

        mark = logs.size();
        g = host.boot(uuid, true);
        assertEquals(pcr16, pcr(g, 16));
        step("4. restore: vtpmback restore (xl restore -p, resume=True, unpause) as domain " + g.domid()
                + "; PCR 16 as at save", mark, host, uuid);

        mark = logs.size();
        Guest source = g;
        Guest destination = host.create(uuid, true);
        CompletableFuture<Void> unpaused = CompletableFuture.runAsync(() -> {
            try {
                destination.unpause();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(500);
        source.suspend();
        unpaused.get(60, TimeUnit.SECONDS);
        g = destination;
        assertEquals(pcr16, pcr(g, 16));
        step("5. migrate: xl migrate localhost, domain " + source.domid() + " -> " + g.domid()
                + " (vtpmback resume-domain on the receiving side); PCR 16 kept", mark, host, uuid);

        mark = logs.size();
        host.stopDaemon();
        InstanceRecord kept = stored(host, uuid);
        assertTrue(kept.snapshot().isPresent(), kept.toString());
        host.startDaemon();
        assertEquals(pcr16, pcr(g, 16));
        step("6. daemon restart under the running domain " + g.domid() + " (systemctl restart vtpmback); on stop it stored"
                + " generation " + kept.generation() + ", last end " + kept.lastEnd() + " with a snapshot; PCR 16 kept", mark, host, uuid);

        mark = logs.size();
        g.shutdown(ShutdownReason.POWEROFF);
        awaitEnded(host, uuid);
        g = host.boot(uuid);
        assertEquals(ZERO32, pcr(g, 16));
        step("7. poweroff, then xl create again as domain " + g.domid() + "; PCR 16 zero, keys kept", mark, host, uuid);

        System.out.println(String.join("\n", history));
        assertEquals(List.of("MANUFACTURE", "CLEAR", "RESTORE", "RESTORE", "RESTORE", "CLEAR"), modes, String.join("\n", history));
        assertTrue(history.stream().anyMatch(l -> l.contains("SUSPEND")), String.join("\n", history));
    }
}
