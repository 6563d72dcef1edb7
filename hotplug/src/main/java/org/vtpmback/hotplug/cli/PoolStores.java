package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.etcd.EtcdGateway;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.EtcdStoreException;
import org.vtpmback.etcd.EtcdTls;
import org.vtpmback.etcd.EtcdVtpmStore;
import org.vtpmback.etcd.HostId;
import org.vtpmback.etcd.LeaseTiming;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.config.ConfigException;
import org.vtpmback.hotplug.config.StoreSettings;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/** The daemon's store in a pool ({@code store = etcd}; docs/pool.md), built from the configuration. */
final class PoolStores {
    private PoolStores() {
    }

    /**
     * The etcd store of this host, its revision marks in {@code <state-dir>}. Its lease is granted at the first vTPM
     * start, so a daemon whose etcd is away still starts (and its guests' starts say why they fail).
     *
     * @throws ConfigException if the TLS files do not make a TLS setup, or {@code pool-host-id} is unset and the host
     *                         name is no pool host name
     */
    static EtcdVtpmStore open(VtpmbackConfig config, MasterKey key) throws IOException {
        StoreSettings s = config.store();
        return EtcdVtpmStore.open(gateway(config), hostId(s), timing(s), key, config.stateDir());
    }

    /** The operator's view of the pool ({@code list}, {@code check}, {@code pool push|pull}): no lease, owns nothing. */
    static PoolAdmin admin(VtpmbackConfig config) {
        return new PoolAdmin(gateway(config));
    }

    /** The lease's timing from {@code etcd-lease-ttl}; its request timeout is every etcd request's, the commands' too. */
    static LeaseTiming timing(StoreSettings s) {
        return LeaseTiming.of(Duration.ofSeconds(s.leaseTtl()));
    }

    /**
     * The gateway to the configured members; sends nothing yet. One request to one member may take the lease's request
     * timeout ({@link LeaseTiming#requestTimeout}: 2 s, or a keep-alive period for a single member); a call
     * tries every member once, so it is bounded by that times their number.
     */
    static EtcdGateway gateway(VtpmbackConfig config) {
        StoreSettings s = config.store();
        Optional<EtcdTls> tls = s.tls() ? Optional.of(new EtcdTls(s.ca().get(), s.cert().get(), s.key().get())) : Optional.empty();
        try {
            return new EtcdGateway(new EtcdSettings(s.endpoints(), s.prefix(), timing(s).requestTimeout(s.endpoints().size()), tls));
        } catch (EtcdStoreException e) {
            // only TLS is set up here (nothing is sent yet): the files are what is wrong
            throw new ConfigException("etcd-ca, etcd-cert, etcd-key: cannot set up TLS with them: " + e.getMessage()
                    + "; give the PEM files of the pool's CA and of this host's client certificate and unencrypted key", false, e);
        }
    }

    /**
     * Refuses, at the daemon's start, TLS files that no member accepts (a wrong {@code etcd-ca}, or a client certificate
     * from another CA): only the operator can fix them, and without this the daemon would start and fail every guest's
     * start instead. It runs before a reload's hand-over, so a successor with wrong files leaves the running daemon
     * serving. A member that cannot be reached says nothing about TLS: a daemon whose etcd is away still starts. One
     * member that answers over TLS is enough (the files are right), so a healthy pool costs one request.
     *
     * @throws ConfigException if no member accepted this host's TLS and at least one refused it
     */
    static void verifyTls(VtpmbackConfig config) {
        StoreSettings s = config.store();
        if (!pooled(config) || !s.tls()) {
            return;
        }
        PoolAdmin admin = admin(config);
        List<String> refused = new ArrayList<>();
        for (URI endpoint : s.endpoints()) {
            try {
                admin.health(endpoint);
                return;
            } catch (IOException e) {
                if (tlsFailure(e, true)) {
                    refused.add(endpoint + " (" + reason(e) + ")");
                }
            }
        }
        if (!refused.isEmpty()) {
            throw new ConfigException("etcd-ca " + s.ca().get() + ", etcd-cert " + s.cert().get() + ": TLS with the pool's"
                    + " etcd failed at " + String.join(", ", refused) + ", and no member accepted it; "
                    + tlsAdvice("the host in etcd-endpoints"), false);
        }
    }

    /** What to check when TLS with a member fails. */
    static String tlsAdvice(String host) {
        return "check that etcd-ca signed the member's certificate (its SAN must name " + host + ") and that the member"
                + " trusts the CA of etcd-cert (--trusted-ca-file)";
    }

    /** Whether {@code e}, from a request to a member, is TLS refusing this host (not a member that is away). */
    static boolean tlsFailure(IOException e, boolean tls) {
        String reason = reason(e);
        // TLS 1.3 sends the server's refusal of a client certificate after the handshake: the request then sees a
        // connection closed without an answer, not an SSLHandshakeException
        return reason.contains("SSL") || reason.contains("certificate") || reason.contains("handshake")
                || tls && reason.contains("received no bytes");
    }

    /** {@code e}'s class and message, for a line. */
    static String reason(IOException e) {
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }

    /** Whether the configuration puts the vTPMs in etcd ({@code store = etcd}). */
    static boolean pooled(VtpmbackConfig config) {
        return config.store().kind() == StoreSettings.Kind.ETCD;
    }

    /** {@code pool-host-id}, else this host's name (the kernel's, as {@code hostname} prints it). */
    static HostId hostId(StoreSettings s) {
        String name = s.hostId().orElseGet(PoolStores::hostName);
        try {
            return new HostId(name);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("pool-host-id is unset and the host name cannot stand for it: " + e.getMessage()
                    + "; set pool-host-id to a name unique in the pool", false, e);
        }
    }

    private static String hostName() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname"), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new ConfigException("pool-host-id is unset and the host name cannot be read (" + e.getMessage()
                    + "); set pool-host-id to a name unique in the pool", false, e);
        }
    }
}
