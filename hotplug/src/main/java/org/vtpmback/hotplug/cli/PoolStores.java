package org.vtpmback.hotplug.cli;

import java.io.IOException;
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
