package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.host.CountingXenStore;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xenstore.XsPath;

/**
 * Issue 13 ("Scale", the boot storm's device add): a watch event names the path that changed, so a new device
 * costs the daemon a listing of its own domain's backends, not of every backend. Before, each event of a device
 * not yet handled listed {@code backend/vtpm} and every domain below it: 1 + D round trips to xenstored per look,
 * with D the domains attached, in a storm of N new guests N(1 + D). Counted (real xenstored, the daemon's own
 * connection wrapped), not timed.
 */
@UseSimulatedHost
@Timeout(240)
class WatchEventLookupsTest {
    private static final int ATTACHED = 6;
    private static final int ADDED = 4;

    @Test
    void aDeviceAddListsOnlyItsOwnDomainNotEveryBackend(SimulatedVtpmHost host) throws Exception {
        CountingXenStore counting = CountedDaemon.restart(host);
        for (int i = 0; i < ATTACHED; i++) {
            host.create(UUID.randomUUID().toString(), false); // device in InitWait: the daemon handles it
        }
        XsPath base = backendBase(host);
        CountedDaemon.settle(host, counting);
        counting.reset();

        List<XsPath> added = new ArrayList<>();
        for (int i = 0; i < ADDED; i++) {
            int domid = host.create(UUID.randomUUID().toString(), false).domid(); // returns at InitWait
            added.add(base.child(domid));
        }
        CountedDaemon.settle(host, counting);

        Map<XsPath, Long> listed = counting.listings();
        assertEquals(0, counting.listings(base), "backend/vtpm itself listed for " + ADDED + " device adds: " + listed);
        assertEquals(Set.copyOf(added), listed.keySet(), "only the new devices' own domains are listed: " + listed);
    }

    @Test
    void anEventBelowANameThatIsNoDomainListsNothing(SimulatedVtpmHost host) throws Exception {
        CountingXenStore counting = CountedDaemon.restart(host);
        host.create(UUID.randomUUID().toString(), false);
        XsPath base = backendBase(host);
        CountedDaemon.settle(host, counting);
        counting.reset();

        host.xenstore().write(base.child("not-a-domid").child("0").child("state"), "1");
        host.xenstore().write(base.child("0").child("0").child("state"), "1"); // dom0 is never a vTPM frontend
        CountedDaemon.settle(host, counting);
        Map<XsPath, Long> listed = counting.listings();
        host.xenstore().rm(base.child("not-a-domid"));
        host.xenstore().rm(base.child("0"));

        assertEquals(Map.of(), listed, "nothing to look at for these events");
    }

    private static XsPath backendBase(SimulatedVtpmHost host) {
        return host.toolstack().backendPath(1, 0).parent().parent();
    }

}
