package org.vtpmback.test.etcd;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.EtcdTls;
import org.vtpmback.test.xenstored.TestDirs;

/**
 * A real etcd cluster on loopback made of Debian's {@code etcd-server} (3.4, installed by
 * {@code scripts/install-deps.sh}): N members on free ports, data in a temp folder, optionally TLS on
 * the client URLs (CA, server and client certificates from {@link EtcdTlsFiles}, and
 * {@code --client-cert-auth}). {@link #start} returns when every member reports healthy.
 *
 * <p>Tests kill ({@link #kill}), hang ({@link #pause}/{@link #resume}) and restart ({@link #restart})
 * single members. {@link #close} always ends every member (a stopped one too) and a shutdown hook does
 * so if the JVM dies first. Not thread-safe: the test thread drives it.
 */
public final class EtcdCluster implements AutoCloseable {
    static final Path ETCD = Path.of("/usr/bin/etcd");
    /** Seconds to wait for the cluster to be healthy (system property {@code etcd.start.timeout}). */
    static final long START_TIMEOUT_SECONDS = Long.getLong("etcd.start.timeout", 30);

    private final Path dir;
    private final List<EtcdMember> members;
    private final Optional<EtcdTlsFiles> tls;
    private final String token;
    private final EtcdProbe probe;
    private final Thread shutdownHook;
    private boolean closed;

    private EtcdCluster(Path dir, List<EtcdMember> members, Optional<EtcdTlsFiles> tls) {
        this.dir = dir;
        this.members = members;
        this.tls = tls;
        this.token = "vtpmback-test-" + UUID.randomUUID();
        this.probe = new EtcdProbe(tls.map(EtcdTlsFiles::clientContext));
        this.shutdownHook = new Thread(() -> members.forEach(m -> {
            try {
                m.kill();
            } catch (InterruptedException | RuntimeException e) {
                // the JVM is going down; nothing else to do
            }
        }), "etcd-cluster-reaper");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Starts {@code size} members in {@code dir} (created if needed) and waits until all are healthy.
     *
     * @param tls whether the client URLs are https with client certificates (peers stay plain on loopback)
     */
    public static EtcdCluster start(Path dir, int size, boolean tls) throws IOException, GeneralSecurityException {
        requireEtcd();
        Files.createDirectories(dir);
        long t0 = System.nanoTime();
        List<Integer> ports = freePorts(2 * size);
        List<EtcdMember> members = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            members.add(new EtcdMember("m" + i, ports.get(2 * i), ports.get(2 * i + 1), dir));
        }
        Optional<EtcdTlsFiles> files = tls ? Optional.of(EtcdTlsFiles.create(dir.resolve("tls"))) : Optional.empty();
        EtcdCluster cluster = new EtcdCluster(dir, members, files);
        try {
            for (int i = 0; i < size; i++) {
                members.get(i).start(cluster.arguments(i, "new"));
            }
            cluster.awaitHealthy(Duration.ofSeconds(START_TIMEOUT_SECONDS));
        } catch (IOException | RuntimeException e) {
            String logs = cluster.logs();
            cluster.close();
            throw new IOException(e.getMessage() + "\n" + logs, e);
        }
        System.out.printf("etcd cluster of %d (%s) healthy in %d ms (%s)%n", size, tls ? "TLS" : "plain",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), dir);
        return cluster;
    }

    /** Fails (never skips) with what to do when Debian's etcd-server is not installed. */
    static void requireEtcd() {
        if (!Files.isExecutable(ETCD) || !Files.isExecutable(Etcdctl.PATH)) {
            throw new IllegalStateException(ETCD + " or " + Etcdctl.PATH + " is missing: install Debian's etcd-server and"
                    + " etcd-client (scripts/install-deps.sh does, as root; scripts/test.sh runs it)");
        }
    }

    private List<String> arguments(int index, String state) {
        EtcdMember m = members.get(index);
        String initialCluster = members.stream().map(o -> o.name() + "=" + o.peerUrl()).collect(Collectors.joining(","));
        String client = m.clientUrl(tls.isPresent()).toString();
        List<String> a = new ArrayList<>(List.of(ETCD.toString(),
                "--name", m.name(), "--data-dir", m.dataDir().toString(),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", m.peerUrl().toString(), "--initial-advertise-peer-urls", m.peerUrl().toString(),
                "--initial-cluster", initialCluster, "--initial-cluster-state", state,
                "--initial-cluster-token", token,
                "--logger", "zap", "--log-outputs", "stderr"));
        tls.ifPresent(t -> a.addAll(List.of(
                "--cert-file", t.dir().resolve(EtcdTlsFiles.SERVER).toString(),
                "--key-file", t.dir().resolve(EtcdTlsFiles.SERVER_KEY).toString(),
                "--trusted-ca-file", t.dir().resolve(EtcdTlsFiles.CA).toString(),
                "--client-cert-auth")));
        return a;
    }

    private static List<Integer> freePorts(int count) throws IOException {
        // Hold all sockets until every port is picked, so no port is handed out twice.
        List<ServerSocket> held = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                held.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
            }
            return held.stream().map(ServerSocket::getLocalPort).toList();
        } finally {
            for (ServerSocket s : held) {
                s.close();
            }
        }
    }

    // ------------------------------------------------------------------ what tests use

    public int size() {
        return members.size();
    }

    public List<URI> clientUrls() {
        return members.stream().map(m -> m.clientUrl(tls.isPresent())).toList();
    }

    public URI clientUrl(int member) {
        return members.get(member).clientUrl(tls.isPresent());
    }

    /** Settings for etcd-store that reach every member (with the client certificate when TLS is on). */
    public EtcdSettings settings(String prefix, Duration requestTimeout) {
        return new EtcdSettings(clientUrls(), prefix, requestTimeout, tls.map(EtcdTlsFiles::clientTls));
    }

    /** The CA, client certificate and key of a PKI other than this cluster's: what a wrong etcd-ca looks like. */
    public static EtcdTls strangerTls(Path dir) throws IOException, GeneralSecurityException {
        return EtcdTlsFiles.create(dir).clientTls();
    }

    public boolean tls() {
        return tls.isPresent();
    }

    public Path dir() {
        return dir;
    }

    /** SIGKILL one member. */
    public void kill(int member) throws InterruptedException {
        members.get(member).kill();
    }

    /** SIGSTOP one member: it keeps its sockets and answers nothing. */
    public void pause(int member) throws IOException, InterruptedException {
        members.get(member).pause();
    }

    /** SIGCONT a paused member. */
    public void resume(int member) throws IOException, InterruptedException {
        members.get(member).resume();
    }

    /** Starts a killed member again on its data and waits until it is healthy. */
    public void restart(int member) throws IOException {
        members.get(member).start(arguments(member, "existing"));
        awaitHealthy(member, Duration.ofSeconds(START_TIMEOUT_SECONDS));
    }

    public long pid(int member) {
        return members.get(member).pid();
    }

    /** Whether the member answers {@code /health} with true (it has a leader and serves a quorum read). */
    public boolean healthy(int member) {
        return probe.healthy(clientUrl(member));
    }

    /** Waits until every running, not paused member is healthy. */
    public void awaitHealthy(Duration timeout) throws IOException {
        for (int i = 0; i < members.size(); i++) {
            if (members.get(i).isRunning() && !members.get(i).isPaused()) {
                awaitHealthy(i, timeout);
            }
        }
    }

    private void awaitHealthy(int member, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!healthy(member)) {
            EtcdMember m = members.get(member);
            if (!m.isRunning()) {
                throw new IOException(m + " exited while starting:\n" + m.logTail(4000));
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IOException(m + " not healthy after " + timeout.toSeconds() + " s");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + m, e);
            }
        }
    }

    /** What etcd still gives lease {@code id}, in seconds (-1: expired), as the first running member answers. */
    public long leaseTtl(long id) throws IOException {
        for (int i = 0; i < members.size(); i++) {
            EtcdMember m = members.get(i);
            Optional<Long> ttl = m.isRunning() && !m.isPaused() ? probe.leaseTtl(clientUrl(i), id) : Optional.empty();
            if (ttl.isPresent()) {
                return ttl.get();
            }
        }
        throw new IOException("no running member answered timetolive of lease " + Long.toHexString(id));
    }

    /** The index of the member that is the raft leader now, as the running members see it. */
    public int leader() throws IOException {
        List<String> ids = new ArrayList<>();
        String leader = null;
        for (int i = 0; i < members.size(); i++) {
            EtcdMember m = members.get(i);
            Optional<EtcdProbe.Status> status = m.isRunning() && !m.isPaused() ? probe.status(clientUrl(i)) : Optional.empty();
            ids.add(status.map(EtcdProbe.Status::memberId).orElse(null));
            if (leader == null && status.isPresent()) {
                leader = status.get().leaderId();
            }
        }
        int index = leader == null ? -1 : ids.indexOf(leader);
        if (index < 0) {
            throw new IOException("no running member names a leader among them (member ids " + ids + ", leader " + leader + ")");
        }
        return index;
    }

    /**
     * Runs Debian's {@code etcdctl} (v3 API) against the running members, as an operator would; returns
     * its output.
     */
    public String etcdctl(String... args) throws IOException {
        List<URI> running = new ArrayList<>();
        for (int i = 0; i < members.size(); i++) {
            if (members.get(i).isRunning() && !members.get(i).isPaused()) {
                running.add(clientUrl(i));
            }
        }
        return etcdctl(running, List.of(args));
    }

    private String etcdctl(List<URI> endpoints, List<String> args) throws IOException {
        return Etcdctl.run(endpoints, tls, args);
    }

    /** {@code etcdctl snapshot save} from one member: a backup as an operator takes it. */
    public void snapshot(int member, Path file) throws IOException {
        etcdctl(List.of(clientUrl(member)), List.of("snapshot", "save", file.toString()));
    }

    /**
     * Puts the whole cluster back to {@code snapshot} the documented way (every member killed, its data
     * replaced by {@code etcdctl snapshot restore}, all started again): the store goes back in time,
     * revisions included.
     */
    public void restoreFromSnapshot(Path snapshot) throws IOException, InterruptedException {
        String initialCluster = members.stream().map(o -> o.name() + "=" + o.peerUrl()).collect(Collectors.joining(","));
        for (EtcdMember m : members) {
            if (m.isPaused()) {
                m.resume();
            }
            m.kill();
        }
        for (EtcdMember m : members) {
            TestDirs.deleteTree(m.dataDir());
            etcdctl(List.of(), List.of("snapshot", "restore", snapshot.toString(), "--name", m.name(),
                    "--initial-cluster", initialCluster, "--initial-cluster-token", token,
                    "--initial-advertise-peer-urls", m.peerUrl().toString(), "--data-dir", m.dataDir().toString()));
        }
        for (int i = 0; i < members.size(); i++) {
            members.get(i).start(arguments(i, "new"));
        }
        awaitHealthy(Duration.ofSeconds(START_TIMEOUT_SECONDS));
    }

    /** Every member's log tail, for failure messages. */
    public String logs() {
        StringBuilder sb = new StringBuilder();
        for (EtcdMember m : members) {
            sb.append("--- ").append(m).append(" ---\n").append(m.logTail(3000)).append('\n');
        }
        return sb.toString();
    }

    /** Ends every member (continues stopped ones first, so nothing is left stopped), idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (EtcdMember m : members) {
            try {
                if (m.isPaused()) {
                    m.resume();
                }
                m.kill();
            } catch (IOException | InterruptedException | RuntimeException e) {
                System.out.println("could not stop " + m + ": " + e);
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // JVM already shutting down
        }
    }

    @Override
    public String toString() {
        return "etcd cluster " + members + " in " + dir;
    }
}
