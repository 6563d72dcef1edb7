package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.etcd.EtcdTls;
import org.vtpmback.test.etcd.EtcdCluster;
import org.vtpmback.test.etcd.UseEtcdCluster;
import org.vtpmback.test.host.DaemonLogsOnFailure;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * The daemon on a pool whose members speak TLS only and ask for a client certificate ({@code --client-cert-auth}), as
 * docs/pool.md's 3-host guide sets them up: with the pool's CA and this host's certificate it serves a guest (its
 * commits and owner key go through TLS); with another CA, or a client certificate of another CA, it refuses to start
 * (exit 78) with one line naming the files and the failed handshake, instead of starting and failing every guest.
 */
@UseEtcdCluster(members = 3, tls = true)
@Timeout(300) // a backstop: each wait inside has its own bound
class EtcdPoolTlsTest {
    private static final String COUNTER = "0x1500031";

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private final List<AutoCloseable> opened = new ArrayList<>();
    @RegisterExtension
    final DaemonLogsOnFailure logsOnFailure = new DaemonLogsOnFailure();
    private final String prefix = "/tls" + UUID.randomUUID().toString().substring(0, 8);

    @AfterEach
    void closeAll() {
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception e) {
                // teardown: the rest still closes
            }
        }
    }

    /** The settings of pool host host-t whose TLS files are {@code tls}. */
    private List<String> settings(EtcdCluster etcd, EtcdTls tls) {
        return settings(etcd, tls, "host-t");
    }

    private List<String> settings(EtcdCluster etcd, EtcdTls tls, String hostId) {
        return List.of("default-tpm-family=2.0", "swtpm-jail=no", "store=etcd", "etcd-endpoints="
                + etcd.clientUrls().stream().map(Object::toString).collect(Collectors.joining(",")), "etcd-prefix=" + prefix,
                "etcd-lease-ttl=10", "pool-host-id=" + hostId, "etcd-ca=" + tls.caCertificate(),
                "etcd-cert=" + tls.clientCertificate(), "etcd-key=" + tls.clientKey());
    }

    private XenstoredDaemon xenstored(String name) throws Exception {
        XenstoredDaemon xs = XenstoredDaemon.start(XenstoredDaemon.Flavour.C, work.resolve(name + "/xenstored"), Map.of());
        opened.add(xs);
        Path key = stateDir(name).resolve("master.key");
        Path poolKey = work.resolve("pool.key"); // the pool's hosts share it (copied, as an operator does)
        if (Files.exists(poolKey)) {
            Files.copy(poolKey, key, StandardCopyOption.COPY_ATTRIBUTES);
        } else {
            MasterKey.create(key);
            Files.copy(key, poolKey, StandardCopyOption.COPY_ATTRIBUTES);
        }
        return xs;
    }

    private Path stateDir(String host) throws Exception {
        return Files.createDirectories(work.resolve(host + "/daemon/state"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx------")));
    }

    /** A pool host: its xenstored, its daemon with the pool's TLS files, its emulated toolstack. */
    private SimulatedVtpmHost host(EtcdCluster etcd, EtcdTls tls, String name) throws Exception {
        XenstoredDaemon xs = xenstored(name);
        opened.add(logsOnFailure.watch(name, DaemonProcess.start(xs.socket(), work.resolve(name + "/sim"),
                work.resolve(name + "/daemon"), settings(etcd, tls, name).toArray(String[]::new))));
        SimulatedVtpmHost host = new SimulatedVtpmHost(xs.socket(), Files.createDirectories(work.resolve(name + "/guests")),
                work.resolve(name + "/sim"));
        opened.add(host);
        return host;
    }

    @Test
    void aDaemonWithThePoolsCertificatesServesAGuestOverTls(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings(prefix, Duration.ofSeconds(2)).tls().orElseThrow();
        XenstoredDaemon xs = xenstored("host-t");
        DaemonProcess daemon = DaemonProcess.start(xs.socket(), work.resolve("host-t/sim"), work.resolve("host-t/daemon"),
                settings(etcd, pool).toArray(String[]::new));
        opened.add(daemon);
        SimulatedVtpmHost host = new SimulatedVtpmHost(xs.socket(), Files.createDirectories(work.resolve("host-t/guests")),
                work.resolve("host-t/sim"));
        opened.add(host);
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String measured = extend(g, 16, ZERO32, sha256Hex("over TLS"));
        g.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(g, 7);
        assertEquals(7, counter(g));
        assertEquals(measured, pcr(g, 16));
        assertEquals("host-t", etcd.etcdctl("get", "--print-value-only", prefix + "/owner/" + uuid).strip(),
                "the owner key went through TLS");
        assertTrue(etcd.etcdctl("get", "--print-value-only", prefix + "/record/" + uuid).length() > 0, "the record too");
        assertTrue(daemon.log().contains("vTPM " + uuid + ": start mode MANUFACTURE"), daemon.log());
        System.out.println("POOL-TLS daemon with etcd-ca/-cert/-key served " + uuid + " through " + etcd.clientUrls());
    }

    @Test
    void aWrongCaOrAStrangersCertificateIsRefusedAtStart(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings(prefix, Duration.ofSeconds(2)).tls().orElseThrow();
        EtcdTls stranger = EtcdCluster.strangerTls(work.resolve("stranger"));
        XenstoredDaemon xs = xenstored("host-t");
        for (EtcdTls wrong : List.of(new EtcdTls(stranger.caCertificate(), pool.clientCertificate(), pool.clientKey()),
                new EtcdTls(pool.caCertificate(), stranger.clientCertificate(), stranger.clientKey()))) {
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> DaemonProcess.start(xs.socket(),
                    work.resolve("host-t/sim"), work.resolve("host-t/daemon"), settings(etcd, wrong).toArray(String[]::new)));
            String message = refused.getMessage();
            assertTrue(message.contains("vtpmback daemon exited 78"), message);
            String line = message.lines().filter(l -> l.contains("TLS with the pool's etcd failed")).findFirst()
                    .orElseThrow(() -> new AssertionError(message));
            assertTrue(line.contains("etcd-ca " + wrong.caCertificate()) && line.contains(etcd.clientUrl(0).toString())
                    && line.contains("no member accepted it; check that etcd-ca signed"), line);
            System.out.println("POOL-TLS refused at start: " + line);
        }
        assertEquals("", etcd.etcdctl("get", "--prefix", prefix + "/").strip(), "nothing reached etcd");
    }

    /**
     * A reload whose configuration file now names another CA: the successor refuses at its TLS check, before the
     * hand-over, so the running daemon keeps serving the guest, and its commits still go through.
     */
    @Test
    void aReloadWithAWrongCaLeavesTheRunningDaemonServing(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings(prefix, Duration.ofSeconds(2)).tls().orElseThrow();
        EtcdTls stranger = EtcdCluster.strangerTls(work.resolve("stranger"));
        XenstoredDaemon xs = xenstored("host-r");
        Path config = work.resolve("host-r/vtpmback.conf");
        Files.writeString(config, tlsLines(pool.caCertificate(), pool));
        List<String> rest = settings(etcd, pool).stream().filter(s -> !s.startsWith("etcd-ca=") && !s.startsWith("etcd-cert=")
                && !s.startsWith("etcd-key=")).toList(); // the TLS files from the file, which a reload reads afresh
        DaemonProcess daemon = DaemonProcess.start(xs.socket(), work.resolve("host-r/sim"), work.resolve("host-r/daemon"),
                java.util.Optional.of(config), Map.of(), List.of(), rest.toArray(String[]::new));
        opened.add(daemon);
        SimulatedVtpmHost host = new SimulatedVtpmHost(xs.socket(), Files.createDirectories(work.resolve("host-r/guests")),
                work.resolve("host-r/sim"));
        opened.add(host);
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(g, 1);
        long oldPid = daemon.pid();
        int logStart = daemon.log().length();
        Files.writeString(config, tlsLines(stranger.caCertificate(), pool));

        new ProcessBuilder("kill", "-HUP", Long.toString(oldPid)).inheritIO().start().waitFor();
        ProgressWait.await("the failed reload reported", () -> daemon.log().substring(logStart).contains("reload failed"),
                () -> "no 'reload failed' line yet");
        String log = daemon.log().substring(logStart);
        assertTrue(log.contains("reload failed, still serving: the successor (pid"), log);
        assertTrue(log.contains("exited with status 78 before it was ready"), log);
        assertTrue(log.contains("TLS with the pool's etcd failed"), log);
        assertTrue(ProcessHandle.of(oldPid).map(ProcessHandle::isAlive).orElse(false), "the running daemon still runs");
        writeCounter(g, 2); // and still commits to etcd on its lease
        assertEquals(2, counter(g));
        assertEquals("host-t", etcd.etcdctl("get", "--print-value-only", prefix + "/owner/" + uuid).strip());
        log.lines().filter(l -> l.contains("reload failed") || l.contains("TLS with the pool's etcd failed"))
                .forEach(l -> System.out.println("POOL-TLS reload: " + l));
    }

    /**
     * Issue 14's migration (a suspend on A, a resume on B, no export) with every request of both daemons over TLS with
     * client certificates: the snapshot-and-release transaction and the acquisition on the other host included.
     */
    @Test
    void aMigrationBetweenTwoHostsGoesThroughTls(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings(prefix, Duration.ofSeconds(2)).tls().orElseThrow();
        SimulatedVtpmHost a = host(etcd, pool, "host-a");
        SimulatedVtpmHost b = host(etcd, pool, "host-b");
        String uuid = UUID.randomUUID().toString();
        Guest ga = a.boot(uuid);
        String pcr16 = extend(ga, 16, ZERO32, sha256Hex("measured on host A over TLS"));
        ga.tpm2("tpm2_nvdefine", COUNTER, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        writeCounter(ga, 11);
        assertEquals("host-a", owner(etcd, uuid));

        ga.suspend();
        assertEquals("", owner(etcd, uuid), "the suspend released the vTPM in the pool");
        Guest gb = b.boot(uuid, true);
        assertEquals(pcr16, pcr(gb, 16), "PCR 16 as on host A: resumed, not restarted");
        assertEquals(11, counter(gb), "NV as written on host A");
        assertEquals("host-b", owner(etcd, uuid));
        writeCounter(gb, 12);
        assertEquals(12, counter(gb));
        System.out.println("POOL-TLS migration host-a -> host-b over TLS: PCR 16 and NV kept, owner host-b");
    }

    private String owner(EtcdCluster etcd, String uuid) throws Exception {
        return etcd.etcdctl("get", "--print-value-only", prefix + "/owner/" + uuid).strip();
    }

    private static String tlsLines(Path ca, EtcdTls client) {
        return "etcd-ca = " + ca + "\netcd-cert = " + client.clientCertificate() + "\netcd-key = " + client.clientKey() + "\n";
    }

    private static void writeCounter(Guest g, long value) throws Exception {
        GuestTpm.writeNv64(g, COUNTER, value);
    }

    private static long counter(Guest g) throws Exception {
        return GuestTpm.readNv64(g, COUNTER);
    }
}
