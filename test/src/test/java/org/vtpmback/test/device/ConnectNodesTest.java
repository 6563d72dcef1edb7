package org.vtpmback.test.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.host.CountingXenStore;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xenstore.XsPath;

/**
 * Issue 13 ("Connect"): the backend's connect-time nodes and its switch to Connected are one xenstore commit, so a
 * frontend that acts on Connected finds them with it and the connect costs one transaction's round trips, not one
 * per node; and one look at a device (what every watch event asks for) reads each state node once. Counted on the
 * daemon's own connection (real xenstored), not timed.
 */
@UseSimulatedHost
@Timeout(240)
class ConnectNodesTest {
    @Test
    void theSwitchToConnectedCommitsTheConnectNodesWithIt(SimulatedVtpmHost host) throws Exception {
        CountingXenStore counting = CountedDaemon.restart(host);
        Guest g = host.boot(UUID.randomUUID().toString());
        assertConnectedInOneCommit(host, counting, g, false);

        g.suspend();
        counting.reset();
        g = host.create(g.uuid(), true);
        g.unpause();
        assertConnectedInOneCommit(host, counting, g, true);
        g.destroy();
    }

    @Test
    void aLookReadsEachStateNodeOnce(SimulatedVtpmHost host) throws Exception {
        CountingXenStore counting = CountedDaemon.restart(host);
        Guest g = host.boot(UUID.randomUUID().toString());
        XsPath be = host.toolstack().backendPath(g.domid(), 0);
        XsPath feState = host.toolstack().frontendPath(g.domid(), 0).child("state");
        CountedDaemon.settle(host, counting);
        counting.reset(); // a look may be under way: the backend's count may lead by one
        int rounds = 5;
        for (int i = 0; i < rounds; i++) {
            long before = counting.reads(feState);
            host.xenstore().write(feState, "4"); // Connected again: a watch event, a look, nothing to do
            until("a look at the frontend's write", () -> counting.reads(feState) > before);
        }
        long looks = counting.reads(feState);
        long ours = counting.reads(be.child("state"));
        // Each look read our state node twice before (its presence, then its value): 2 x looks.
        assertTrue(ours <= looks + 1, "the backend's state node read once per look: " + ours + " reads in " + looks + " looks");
        g.destroy();
    }

    private static void assertConnectedInOneCommit(SimulatedVtpmHost host, CountingXenStore counting, Guest g,
                                                   boolean resume) throws Exception {
        XsPath be = host.toolstack().backendPath(g.domid(), 0);
        // The frontend may see the commit before the daemon's thread has noted it.
        until("the commit of Connected noted", () -> counting.commits().stream().anyMatch(c -> "4".equals(c.get(be.child("state")))));
        CountedDaemon.settle(host, counting);
        List<Map<XsPath, String>> connected = counting.commits().stream()
                .filter(c -> "4".equals(c.get(be.child("state")))).toList();
        assertEquals(1, connected.size(), "one commit switched to Connected: " + counting.commits());
        Map<XsPath, String> c = connected.get(0);
        assertEquals("1", c.get(be.child("ready")), "ready with Connected: " + c);
        assertEquals("1", c.get(be.child("feature-protocol-v2")), "the feature with Connected: " + c);
        if (resume) {
            assertEquals("False", c.get(be.child("resume")), "the restore signal consumed with Connected: " + c);
        }
        long elsewhere = counting.commits().stream().filter(x -> x != c)
                .filter(x -> x.containsKey(be.child("ready")) || x.containsKey(be.child("resume"))).count();
        assertEquals(0, elsewhere, "no other commit wrote the connect's nodes: " + counting.commits());
        assertEquals("4", host.xenstore().read(be.child("state")).orElse(""));
    }

    private static void until(String what, java.util.function.BooleanSupplier done) throws Exception {
        ProgressWait.await(what, () -> {
            if (done.getAsBoolean()) {
                return true;
            }
            Thread.sleep(2);
            return false;
        }, () -> "not yet");
    }

}
