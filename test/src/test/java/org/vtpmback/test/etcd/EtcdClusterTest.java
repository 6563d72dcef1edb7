package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/** The fixture itself: a real 3-member cluster on loopback whose members a test can hang, kill and restart. */
@UseEtcdCluster(members = 3)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(60)
class EtcdClusterTest {
    @Test
    @Order(1)
    void threeHealthyMembersOnLoopbackAgreeOnOneLeader(EtcdCluster etcd) throws Exception {
        assertEquals(3, etcd.size());
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            assertTrue(etcd.healthy(i), "member " + i);
            assertEquals("127.0.0.1", etcd.clientUrl(i).getHost());
            ports.add(etcd.clientUrl(i).getPort());
        }
        assertEquals(3, ports.size());
        int leader = etcd.leader();
        assertTrue(leader >= 0 && leader < 3);
        String list = etcd.etcdctl("member", "list");
        assertEquals(3, list.lines().filter(l -> l.contains("started")).count(), list);
    }

    @Test
    @Order(2)
    void aStoppedMemberAnswersNothingUntilContinued(EtcdCluster etcd) throws Exception {
        // a follower: stopping the leader leaves the other two without one until they elect another (a timing race
        // this test lost once, 2026-12-04), which is MemberFailureTest's case
        int follower = (etcd.leader() + 1) % 3;
        etcd.pause(follower);
        try {
            assertFalse(etcd.healthy(follower), "a SIGSTOPped member must not answer");
            assertTrue(etcd.healthy((follower + 1) % 3) && etcd.healthy((follower + 2) % 3), "the other two keep quorum");
        } finally {
            etcd.resume(follower); // never left stopped for the next test
        }
        etcd.awaitHealthy(java.time.Duration.ofSeconds(10));
        assertTrue(etcd.healthy(follower));
    }

    @Test
    @Order(3)
    void aKilledMemberRestartsOnItsDataAndRejoins(EtcdCluster etcd) throws Exception {
        int follower = (etcd.leader() + 1) % 3; // killing the leader is MemberFailureTest's
        etcd.etcdctl("put", "/fixture/k", "before-kill");
        long pid = etcd.pid(follower);
        etcd.kill(follower);
        assertFalse(etcd.healthy(follower));
        etcd.awaitHealthy(java.time.Duration.ofSeconds(10));
        etcd.etcdctl("put", "/fixture/k", "while-down");
        etcd.restart(follower);
        assertTrue(etcd.pid(follower) != pid);
        assertTrue(etcd.healthy(follower));
        String got = Etcdctl.run(java.util.List.of(etcd.clientUrl(follower)), java.util.Optional.empty(),
                java.util.List.of("get", "/fixture/k", "--print-value-only"));
        assertEquals("while-down", got.strip(), "the restarted member caught up");
    }
}
