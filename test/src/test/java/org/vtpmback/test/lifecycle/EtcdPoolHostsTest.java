package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.test.etcd.EtcdCluster;
import org.vtpmback.test.etcd.UseEtcdCluster;
import org.vtpmback.test.host.DaemonLogsOnFailure;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenbusState;

/**
 * Two simulated dom0s, each with its own real xenstored and its own {@code vtpmback daemon} (store = etcd), sharing a
 * real 3-member etcd cluster and the pool's master key (copied, as an operator does): issue 14's scenarios on the
 * daemon's whole path. Every check is a real TPM answer (tpm2-tools or raw commands through the emulated frontend),
 * the daemons' logs, the xenstore error node, or etcd's own keys.
 */
@UseEtcdCluster(members = 3)
@Timeout(600) // a backstop: each wait inside has its own bound
class EtcdPoolHostsTest {
    private static final AtomicInteger POOLS = new AtomicInteger();
    private static final String COUNTER = "0x1500031";
    /** TPM_RC_FAILURE: what a refused command gets (SaveGate), as after a failed commit-log write. */
    private static final int TPM_RC_FAILURE = 0x101;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private final List<AutoCloseable> opened = new ArrayList<>();
    @RegisterExtension
    final DaemonLogsOnFailure logsOnFailure = new DaemonLogsOnFailure();
    /** Each test its own pool of keys in the shared cluster. */
    private final String prefix = "/pool" + POOLS.incrementAndGet();

    /** A dom0 of the pool: its xenstored, its daemon, its guests. */
    private record Dom0(String name, XenstoredDaemon xenstored, DaemonProcess daemon, SimulatedVtpmHost host, List<String> settings) {
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception e) {
                // teardown: the rest still closes
            }
        }
    }

    /** Starts host {@code name}: the first one makes the pool's master key, the others get a copy of it. */
    private Dom0 dom0(String name, EtcdCluster etcd, int leaseTtl) throws Exception {
        return dom0(name, etcd, etcd.clientUrls(), leaseTtl);
    }

    /** {@link #dom0(String, EtcdCluster, int)} whose daemon tries the members in the order of {@code endpoints}. */
    private Dom0 dom0(String name, EtcdCluster etcd, List<java.net.URI> endpoints, int leaseTtl) throws Exception {
        Path dir = work.resolve(name);
        XenstoredDaemon xs = XenstoredDaemon.start(XenstoredDaemon.Flavour.C, dir.resolve("xenstored"), Map.of());
        opened.add(xs);
        Path state = Files.createDirectories(dir.resolve("daemon/state"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx------")));
        Path poolKey = work.resolve("pool.key");
        if (!Files.exists(poolKey)) {
            MasterKey.create(state.resolve("master.key"));
            Files.copy(state.resolve("master.key"), poolKey, StandardCopyOption.COPY_ATTRIBUTES);
        } else {
            Files.copy(poolKey, state.resolve("master.key"), StandardCopyOption.COPY_ATTRIBUTES);
        }
        String urls = endpoints.stream().map(Object::toString).collect(Collectors.joining(","));
        // swtpm-jail=no: both daemons run in this JVM's one test uid range, and a jailed daemon's start kills every
        // process in its range, the other daemon's swtpm among them
        List<String> settings = List.of("default-tpm-family=2.0", "swtpm-jail=no", "store=etcd", "etcd-endpoints=" + urls,
                "etcd-prefix=" + prefix, "etcd-lease-ttl=" + leaseTtl, "pool-host-id=" + name);
        DaemonProcess daemon = DaemonProcess.start(xs.socket(), dir.resolve("sim"), dir.resolve("daemon"), settings.toArray(String[]::new));
        opened.add(logsOnFailure.watch(name, daemon));
        SimulatedVtpmHost host = new SimulatedVtpmHost(xs.socket(), Files.createDirectories(dir.resolve("guests")), dir.resolve("sim"));
        opened.add(host);
        return new Dom0(name, xs, daemon, host, settings);
    }

    /** {@code systemctl restart}: SIGTERM (guests stay connected, their swtpm running), then a new daemon on the same state. */
    private Dom0 restarted(Dom0 d) throws Exception {
        d.daemon().stop();
        Path dir = work.resolve(d.name());
        DaemonProcess next = DaemonProcess.start(d.xenstored().socket(), dir.resolve("sim"), dir.resolve("daemon"),
                d.settings().toArray(String[]::new));
        opened.add(logsOnFailure.watch(d.name(), next));
        return new Dom0(d.name(), d.xenstored(), next, d.host(), d.settings());
    }

    private String owner(EtcdCluster etcd, String uuid) throws Exception {
        return etcd.etcdctl("get", "--print-value-only", prefix + "/owner/" + uuid).strip();
    }

    /** Issue 14, scenario 5: two hosts start the same vTPM at once; one runs it, the other refuses naming it. */
    @Test
    void twoHostsRacingToStartOneVtpmRunItOnExactlyOne(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 10);
        Dom0 b = dom0("host-b", etcd, 10);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().create(uuid, false);
        Guest gb = b.host().create(uuid, false);
        ga.frontend().probe(); // both frontends connect at once: both daemons acquire
        gb.frontend().probe();

        ProgressWait.await("one of the two guests connected", () -> ga.frontend().awaitConnected(Duration.ofMillis(200))
                || gb.frontend().awaitConnected(Duration.ofMillis(200)), () -> "frontends " + ga.frontend().state() + ", "
                + gb.frontend().state());
        boolean aWon = ga.frontend().state() == XenbusState.CONNECTED;
        Dom0 winner = aWon ? a : b;
        Dom0 loser = aWon ? b : a;
        Guest gw = aWon ? ga : gb;
        Guest gl = aWon ? gb : ga;
        assertEquals(winner.name(), owner(etcd, uuid), "etcd names the winner as owner");
        String measured = extend(gw, 16, ZERO32, sha256Hex("runs on " + winner.name()));
        assertEquals(measured, pcr(gw, 16), "the winner's TPM answers");

        // the loser waits the hand-over bound (60 s), then refuses with the owner's name in its error node
        long t0 = System.nanoTime();
        ProgressWait.await("the loser refuses", () -> gl.frontend().state() != XenbusState.INITIALISING
                && loser.host().xenstore().read(GuestTpm.errorNode(gl.domid())).isPresent(),
                () -> "backend " + loser.host().toolstack().backendState(gl.domid(), 0));
        String error = loser.host().xenstore().read(GuestTpm.errorNode(gl.domid())).orElseThrow();
        assertTrue(error.contains("vTPM " + uuid + " is owned by host " + winner.name()), error);
        assertFalse(gl.frontend().state() == XenbusState.CONNECTED, "the loser's guest never got a TPM");
        assertTrue(loser.daemon().log().contains("is owned by host " + winner.name()), "loser's log");
        assertEquals(winner.name(), owner(etcd, uuid), "still the winner's");
        assertEquals(measured, pcr(gw, 16), "the winner's TPM untouched by the loser's attempt");
        System.out.println("POOL-RACE loser's error node: " + error);
        System.out.printf("POOL-RACE winner %s, loser %s refused after %d ms more (hand-over bound 60 s)%n", winner.name(),
                loser.name(), (System.nanoTime() - t0) / 1_000_000);
    }

    /** Issue 14, scenario 1: migration A to B through a suspend on A and a resume on B; no export, no import. */
    @Test
    void aSuspendOnOneHostResumesOnTheOtherWithItsPcrs(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 10);
        Dom0 b = dom0("host-b", etcd, 10);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        String pcr16 = extend(ga, 16, ZERO32, sha256Hex("measured on host A"));
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(ga, 41);
        assertEquals("host-a", owner(etcd, uuid));

        long t0 = System.nanoTime();
        ga.suspend(); // xl save / migrate: the source's teardown commits the snapshot and releases in one txn
        long suspended = System.nanoTime();
        Guest gb = b.host().boot(uuid, true); // xl restore / resume-domain on host B
        long resumed = System.nanoTime();

        assertEquals(pcr16, pcr(gb, 16), "PCR 16 as it was on host A: the TPM resumed, not restarted");
        assertEquals(41, counter(gb), "NV as written on host A");
        assertEquals("host-b", owner(etcd, uuid));
        String logB = b.daemon().log();
        assertTrue(logB.contains("vTPM " + uuid + ": start mode RESTORE"), logB);
        writeCounter(gb, 42); // host B's commits go through
        assertEquals(42, counter(gb));
        System.out.printf("POOL-MIGRATION suspend on host-a %d ms, resume on host-b %d ms (connect included)%n",
                (suspended - t0) / 1_000_000, (resumed - suspended) / 1_000_000);
    }

    /**
     * Issue 14, scenario 3: host A's daemon SIGSTOPped past its lease TTL (a partition), B takes the vTPM over, then A
     * is continued: A is fenced (its guest gets TPM failures, its log says so loudly, its device's error node too),
     * and B's record is intact.
     */
    @Test
    void aHostStoppedPastItsLeaseIsFencedAndTheTakeOverKeepsItsRecord(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 4);
        Dom0 b = dom0("host-b", etcd, 4);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(ga, 1);

        signal("STOP", a.daemon().pid());
        long t0 = System.nanoTime();
        Guest gb;
        try {
            gb = b.host().boot(uuid); // HA: the guest re-created on B once A's lease is gone
        } catch (Exception | AssertionError e) {
            signal("CONT", a.daemon().pid());
            throw e;
        }
        long takeover = System.nanoTime() - t0;
        assertEquals("host-b", owner(etcd, uuid));
        assertEquals(1, counter(gb), "B starts from A's last acknowledged write");
        writeCounter(gb, 2);

        signal("CONT", a.daemon().pid());
        long c0 = System.nanoTime();
        // A state-changing command on A: refused (TPM failure), nothing reaches etcd
        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> writeCounter(ga, 99));
        long fencedAfter = System.nanoTime() - c0;
        assertTrue(refused.getMessage().contains("0x101") || refused.getMessage().toLowerCase().contains("failure"),
                refused.getMessage());
        ProgressWait.await("host A's log says it is fenced", () -> a.daemon().log().contains("FENCED"), () -> "");
        String logA = a.daemon().log();
        assertTrue(logA.matches("(?s).*FENCED vTPM " + uuid + " on host host-a: .*"), logA);
        assertTrue(logA.matches("(?s).*FENCED [^\\n]*domain " + ga.domid() + ": vTPM " + uuid + ": .*"), logA);
        assertTrue(logA.contains("its owner is now host host-b") || logA.contains("owner is now host host-b"), logA);
        // from then on every command on A is refused; the device reports why
        Optional<String> error = Optional.empty();
        try {
            byte[] answer = ga.transmit(GET_RANDOM_8);
            assertEquals(TPM_RC_FAILURE, GuestTpm.rc(answer), "GetRandom on the fenced host");
        } catch (java.io.IOException gone) {
            // the device was failed first: no answer at all is as good (the guest's TPM is gone)
        }
        ProgressWait.await("host A's error node", () -> a.host().xenstore().read(GuestTpm.errorNode(ga.domid())).isPresent(),
                () -> "backend " + a.host().toolstack().backendState(ga.domid(), 0));
        error = a.host().xenstore().read(GuestTpm.errorNode(ga.domid()));
        assertTrue(error.orElseThrow().contains("fenced"), error.toString());

        // B's record is B's: its acknowledged write is there, and its next commit goes through
        assertEquals("host-b", owner(etcd, uuid));
        assertEquals(2, counter(gb));
        writeCounter(gb, 3);
        assertEquals(3, counter(gb));
        logA.lines().filter(l -> l.contains("FENCED")).forEach(l -> System.out.println("POOL-PARTITION host-a log: " + l));
        System.out.println("POOL-PARTITION host-a error node: " + error.get());
        System.out.printf("POOL-PARTITION lease TTL 4 s: host-b ran the vTPM %d ms after host-a stopped; host-a refused its"
                + " first command %d ms after it was continued%n", takeover / 1_000_000, fencedAfter / 1_000_000);
    }

    /**
     * Issue 14, scenario 2: host A dies (its daemon and swtpm SIGKILLed) under an NV write loop; once its lease has
     * expired the guest is re-created on B, which starts CLEAR from the last committed state: the counter is the last
     * acknowledged value or the one in flight, never lower.
     */
    @Test
    void afterAHostDiesTheVtpmStartsElsewhereWithEveryAcknowledgedWrite(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 4);
        Dom0 b = dom0("host-b", etcd, 4);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.CompletableFuture<Void> writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                while (!stop.get()) {
                    long next = acked.get() + 1;
                    writeCounter(ga, next);
                    acked.set(next);
                }
            } catch (Exception e) {
                // the write in flight at the kill: it may or may not have landed
            }
        });
        ProgressWait.await("a few NV writes acknowledged on host A", () -> acked.get() >= 5 || writer.isDone(),
                () -> "acknowledged " + acked.get());
        long swtpm = Long.parseLong(Files.readString(work.resolve("host-a/daemon/run/instances/" + uuid + "/swtpm.pid")).strip());
        a.daemon().kill(); // the host dies: no teardown, no release; its lease expires on etcd's side
        ProcessHandle.of(swtpm).ifPresent(ProcessHandle::destroyForcibly);
        long t0 = System.nanoTime();
        stop.set(true);
        Guest gb = b.host().boot(uuid); // HA: re-created on B, which waits for A's owner key to go with its lease
        long failover = System.nanoTime() - t0;
        writer.get(2, java.util.concurrent.TimeUnit.MINUTES); // its write in flight on dead A fails (guest timeout 30 s)
        long lastAcked = acked.get();
        long stored = counter(gb);
        assertTrue(stored == lastAcked || stored == lastAcked + 1, "NV holds " + stored + ", the last acknowledged write was "
                + lastAcked);
        assertTrue(lastAcked >= 5, "the guest wrote before the kill");
        assertEquals("host-b", owner(etcd, uuid));
        assertTrue(b.daemon().log().contains("vTPM " + uuid + ": start mode CLEAR"), b.daemon().log());
        writeCounter(gb, stored + 1);
        assertEquals(stored + 1, counter(gb));
        System.out.printf("POOL-FAILOVER lease TTL 4 s: host-a killed after %d acknowledged NV writes; host-b ran the vTPM"
                + " %d ms later (connect included) with NV %d%n", lastAcked, failover / 1_000_000, stored);
    }

    /**
     * Issue 14, scenario 4 (first half): the etcd leader, which is also the member the daemon talks to, SIGKILLed under
     * an NV write loop: the loop goes on with 2 of 3 members, no acknowledged write is lost, and the stall is bounded.
     * A write whose commit got no answer was answered with a TPM failure and is re-sent as it was before the next one.
     */
    @Test
    void theEtcdLeaderKilledUnderAnNvLoopLosesNoAcknowledgedWrite(EtcdCluster etcd) throws Exception {
        int leader = etcd.leader();
        List<java.net.URI> leaderFirst = new ArrayList<>(List.of(etcd.clientUrl(leader)));
        etcd.clientUrls().stream().filter(u -> !u.equals(etcd.clientUrl(leader))).forEach(leaderFirst::add);
        Dom0 a = dom0("host-a", etcd, leaderFirst, 10);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong failed = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong maxStallNanos = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.CompletableFuture<Void> writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
            long last = System.nanoTime();
            while (!stop.get()) {
                long next = acked.get() + 1;
                try {
                    writeCounter(ga, next);
                    acked.set(next);
                    long now = System.nanoTime();
                    maxStallNanos.accumulateAndGet(now - last, Math::max);
                    last = now;
                } catch (Exception e) {
                    failed.incrementAndGet(); // answered with a TPM failure: the guest tries the same value again
                }
            }
        });
        boolean killed = false;
        try {
            ProgressWait.await("NV writes acknowledged before the kill", () -> acked.get() >= 5 || writer.isDone(),
                    () -> "acknowledged " + acked.get());
            long before = acked.get();
            etcd.kill(leader);
            killed = true;
            ProgressWait.await("NV writes acknowledged after the kill", () -> acked.get() >= before + 10 || writer.isDone(),
                    () -> "acknowledged " + acked.get() + ", failed " + failed.get());
            stop.set(true);
            writer.get(2, java.util.concurrent.TimeUnit.MINUTES);
            assertEquals(acked.get(), counter(ga), "NV holds exactly the last acknowledged write");
            assertTrue(acked.get() >= before + 10, "the loop went on with 2 of 3 members");
            assertEquals("host-a", owner(etcd, uuid));
            System.out.printf("POOL-LEADER-KILL member %d (leader, the daemon's first endpoint) killed after %d writes: %d"
                    + " acknowledged in all, %d answered with a TPM failure, longest gap between two acknowledged writes %d ms%n",
                    leader, before, acked.get(), failed.get(), maxStallNanos.get() / 1_000_000);
        } finally {
            stop.set(true);
            if (killed) {
                etcd.restart(leader); // the class's other tests share the cluster
            }
        }
    }

    /**
     * Issue 14, scenario 4 (second half): quorum lost (2 of 3 members SIGKILLed) under a guest's NV writes: each write
     * is answered with a TPM failure within the bound (never a hang, never acknowledged), and once quorum is back the
     * same device writes again, with nothing acknowledged lost. The lease (TTL 60 s: the host fences itself 45 s after
     * its last keep-alive) outlives the outage, so the host is not fenced. With TTL 30 s a loaded machine (load 14) took
     * longer than the 22 s left to bring the killed member back into a quorum, and the host fenced itself as it should.
     */
    @Test
    void withoutQuorumWritesFailWithinTheBoundAndTheDeviceRecovers(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 60);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(ga, 1);
        writeCounter(ga, 2);
        int keep = etcd.leader();
        List<Integer> killed = new ArrayList<>();
        try {
            for (int m = 0; m < etcd.size(); m++) {
                if (m != keep) {
                    etcd.kill(m);
                    killed.add(m);
                }
            }
            long slowest = 0;
            for (int i = 0; i < 3; i++) {
                long t = System.nanoTime();
                assertThrows(IllegalStateException.class, () -> writeCounter(ga, 3), "acknowledged without quorum");
                slowest = Math.max(slowest, System.nanoTime() - t);
            }
            assertTrue(slowest < Duration.ofSeconds(15).toNanos(), "a refusal took " + slowest / 1_000_000 + " ms");
            long q0 = System.nanoTime();
            etcd.restart(killed.remove(0)); // quorum back
            int tries = 0;
            while (true) {
                tries++;
                try {
                    writeCounter(ga, 3);
                    break;
                } catch (IllegalStateException e) {
                    assertTrue(System.nanoTime() - q0 < Duration.ofSeconds(30).toNanos(), "no write 30 s after quorum: " + e);
                }
            }
            long recovered = System.nanoTime() - q0;
            assertEquals(3, counter(ga));
            writeCounter(ga, 4);
            assertEquals(4, counter(ga));
            assertEquals("host-a", owner(etcd, uuid));
            assertFalse(a.daemon().log().contains("FENCED"), "the outage was shorter than the lease");
            System.out.printf("POOL-QUORUM 2 of 3 members killed: 3 NV writes refused, slowest refusal %d ms; quorum back:"
                    + " first write acknowledged %d ms after the member's restart began (%d tries)%n", slowest / 1_000_000,
                    recovered / 1_000_000, tries);
        } finally {
            for (int m : killed) {
                etcd.restart(m);
            }
        }
    }

    /**
     * A daemon restarted under a running guest with store = etcd: the stop commits the running state and keeps the
     * owner key (its lease is left to expire, not revoked); the new daemon re-attaches the key to its own lease, takes
     * the running swtpm over, and its commits go through.
     */
    @Test
    void aRestartedDaemonKeepsItsVtpmAndWritesOn(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 10);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        String pcr16 = extend(ga, 16, ZERO32, sha256Hex("before the restart"));
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(ga, 1);

        long t0 = System.nanoTime();
        a = restarted(a);
        long restart = System.nanoTime() - t0;

        assertEquals(pcr16, pcr(ga, 16), "the guest's TPM was not reset");
        assertEquals(1, counter(ga));
        writeCounter(ga, 2); // a commit of the new daemon, on its own lease
        assertEquals(2, counter(ga));
        assertEquals("host-a", owner(etcd, uuid));
        assertEquals(XenbusState.CONNECTED, ga.frontend().state());
        assertFalse(a.daemon().log().contains("FENCED"), a.daemon().log());
        System.out.printf("POOL-RESTART daemon restarted under a running guest in %d ms; PCRs kept, commits on the new lease%n",
                restart / 1_000_000);
    }

    /**
     * {@code systemctl reload} (SIGHUP) with store = etcd under a guest's NV counter loop: the successor takes the running
     * swtpm over on its own lease, and the owner key moves to that lease without the pool's fence tripping (no
     * FENCED line, no failed write) and without losing an acknowledged write (the counter is never lower).
     */
    @Test
    void aReloadHandsTheVtpmToTheSuccessorWithoutAFenceOrALostWrite(EtcdCluster etcd) throws Exception {
        Dom0 a = dom0("host-a", etcd, 10);
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.host().boot(uuid);
        String pcr16 = extend(ga, 16, ZERO32, sha256Hex("before the reload"));
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        String leaseBefore = ownerLease(etcd, uuid);
        long swtpm = Long.parseLong(Files.readString(work.resolve("host-a/daemon/run/instances/" + uuid + "/swtpm.pid")).strip());
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong lowest = new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.CompletableFuture<Void> writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
            while (!stop.get()) {
                long next = acked.get() + 1;
                try {
                    writeCounter(ga, next);
                    acked.set(next);
                    long read = counter(ga); // what the guest reads back is never below what it was told is written
                    if (read < next) {
                        lowest.accumulateAndGet(read, Math::min);
                        failures.add("wrote " + next + ", read back " + read);
                    }
                } catch (Exception e) {
                    failures.add(e.toString());
                }
            }
        });
        ProgressWait.await("NV writes acknowledged before the reload", () -> acked.get() >= 5 || writer.isDone(),
                () -> "acknowledged " + acked.get() + ", failures " + failures);
        long oldPid = a.daemon().pid();
        long t0 = System.nanoTime();
        DaemonProcess successor = a.daemon().reload();
        long reload = System.nanoTime() - t0;
        opened.add(successor);
        long atHandOver = acked.get();
        ProgressWait.await("NV writes acknowledged by the successor", () -> acked.get() >= atHandOver + 5 || writer.isDone(),
                () -> "acknowledged " + acked.get() + ", failures " + failures);
        stop.set(true);
        writer.get(2, java.util.concurrent.TimeUnit.MINUTES);

        assertEquals(List.of(), failures, "every NV write and read across the reload answered, none lower");
        assertEquals(acked.get(), counter(ga), "NV holds the last acknowledged write");
        assertTrue(successor.pid() != oldPid, "a new daemon serves");
        assertEquals(swtpm, Long.parseLong(Files.readString(work.resolve("host-a/daemon/run/instances/" + uuid
                + "/swtpm.pid")).strip()), "the successor took the running swtpm over");
        assertEquals(pcr16, pcr(ga, 16), "PCR 16 as before the reload");
        assertEquals("host-a", owner(etcd, uuid));
        String leaseAfter = ownerLease(etcd, uuid);
        assertFalse(leaseAfter.equals(leaseBefore), "the owner key is on the successor's lease now (" + leaseAfter + ")");
        // the predecessor's lease was stopped, not revoked: once it has expired, the vTPM is still the successor's
        String oldLease = Long.toHexString(Long.parseLong(leaseBefore));
        ProgressWait.await("the predecessor's lease expired", () -> etcd.etcdctl("lease", "timetolive", oldLease)
                .contains("already expired"), () -> "");
        writeCounter(ga, acked.get() + 1);
        assertEquals(acked.get() + 1, counter(ga), "a commit after the old lease expired");
        assertEquals("host-a", owner(etcd, uuid));
        String log = successor.log(); // the whole log file: the predecessor's lines and the successor's
        assertFalse(log.contains("FENCED"), log);
        assertTrue(log.contains("vTPM " + uuid + ": took over its running swtpm pid " + swtpm), log);
        System.out.printf("POOL-RELOAD lease TTL 10 s: reload (SIGHUP to the successor serving) %d ms; %d NV writes"
                + " acknowledged, %d after the hand-over; owner lease %s -> %s%n", reload / 1_000_000, acked.get(),
                acked.get() - atHandOver, leaseBefore, leaseAfter);
    }

    /** The lease the owner key of {@code uuid} is attached to (etcdctl's hex), "" if none. */
    private String ownerLease(EtcdCluster etcd, String uuid) throws Exception {
        String json = etcd.etcdctl("get", prefix + "/owner/" + uuid, "-w", "json");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"lease\":(\\d+)").matcher(json);
        return m.find() ? m.group(1) : "";
    }

    /** TPM2_GetRandom(8): changes nothing, so only a fence refuses it. */
    private static final byte[] GET_RANDOM_8 = {(byte) 0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8};

    private static void signal(String name, long pid) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        assertEquals(0, p.waitFor(), "kill -" + name + " " + pid);
    }

    private static void writeCounter(Guest g, long value) throws Exception {
        GuestTpm.writeNv64(g, COUNTER, value);
    }

    private static long counter(Guest g) throws Exception {
        return GuestTpm.readNv64(g, COUNTER);
    }
}
