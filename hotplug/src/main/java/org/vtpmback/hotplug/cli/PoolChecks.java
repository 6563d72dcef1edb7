package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.cli.CheckCommand.Result;
import org.vtpmback.hotplug.config.ConfigException;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback check} with {@code store = etcd}: each member answers {@code /health} (over TLS with this host's
 * certificate when configured), a lease can be granted and revoked, and the prefix is readable. Each failure says what
 * to do. Changes nothing in etcd but a lease that lives for a moment.
 */
final class PoolChecks {
    /** The probe lease's TTL; revoked at once, so it only matters if the revoke is lost. */
    private static final long PROBE_LEASE_TTL = 5;

    private PoolChecks() {
    }

    static List<Result> of(VtpmbackConfig config) {
        List<Result> results = new ArrayList<>();
        PoolAdmin admin;
        try {
            admin = PoolStores.admin(config);
        } catch (ConfigException e) {
            results.add(new Result(false, "etcd-tls", e.getMessage()));
            return results;
        }
        boolean tls = config.store().tls();
        for (URI endpoint : config.store().endpoints()) {
            results.add(member(admin, endpoint, tls));
        }
        try {
            admin.grantAndRevokeLease(PROBE_LEASE_TTL);
            results.add(new Result(true, "etcd-lease", "a lease was granted and revoked (the daemon keeps one of "
                    + config.store().leaseTtl() + " s alive)"));
        } catch (IOException e) {
            results.add(new Result(false, "etcd-lease", e.getMessage() + "; without a lease this host can run no vTPM"
                    + " of the pool: check that a majority of the members run (etcdctl endpoint status --cluster)"));
        }
        try {
            long keys = admin.countUnderPrefix();
            results.add(new Result(true, "etcd-prefix", config.store().prefix() + " is readable; " + keys + " key(s) under it"));
        } catch (IOException e) {
            results.add(new Result(false, "etcd-prefix", config.store().prefix() + ": " + e.getMessage()
                    + "; if etcd's auth is on, grant this host's user read and write on the prefix"));
        }
        return results;
    }

    private static Result member(PoolAdmin admin, URI endpoint, boolean tls) {
        String name = "etcd-member";
        try {
            String body = admin.health(endpoint);
            if (!body.contains("\"true\"")) {
                return new Result(false, name, endpoint + " answers but is not healthy (" + body + "): it may have lost"
                        + " its leader or quorum; see its log (journalctl -u etcd)");
            }
            return new Result(true, name, endpoint + " is healthy" + (tls ? "; TLS with this host's client certificate" : ""));
        } catch (IOException e) {
            String reason = PoolStores.reason(e);
            return new Result(false, name, endpoint + ": " + reason + (PoolStores.tlsFailure(e, tls)
                    ? "; TLS failed: " + PoolStores.tlsAdvice(endpoint.getHost())
                    : "; check that etcd runs there (systemctl status etcd), listens on that address"
                            + " (--listen-client-urls) and that no firewall is in the way"));
        }
    }
}
