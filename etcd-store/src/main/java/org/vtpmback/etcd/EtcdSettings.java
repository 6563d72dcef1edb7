package org.vtpmback.etcd;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How to reach the pool's etcd cluster. Immutable.
 *
 * @param endpoints      the members' client URLs ({@code http://} or {@code https://host:port}), tried in
 *                       turn: a request that fails on one member goes to the next
 * @param prefix         the folder of this pool's keys, e.g. {@code /vtpmback}; no trailing '/'
 * @param requestTimeout how long one request to one member may take before the next member is tried;
 *                       bounds every call (at most {@code endpoints.size()} times this)
 * @param tls            client certificate and CA, required when the endpoints are {@code https}
 */
public record EtcdSettings(List<URI> endpoints, String prefix, Duration requestTimeout, Optional<EtcdTls> tls) {
    public EtcdSettings {
        endpoints = List.copyOf(endpoints);
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("no etcd endpoint given");
        }
        for (URI e : endpoints) {
            String scheme = e.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme) || e.getHost() == null || e.getPort() < 0) {
                throw new IllegalArgumentException("etcd endpoint '" + e + "' is not http(s)://host:port");
            }
            if ("https".equals(scheme) && tls.isEmpty()) {
                throw new IllegalArgumentException("etcd endpoint '" + e + "' is https, but no CA and client certificate are set");
            }
        }
        if (prefix == null || !prefix.startsWith("/") || prefix.endsWith("/") || prefix.contains("//")) {
            throw new IllegalArgumentException("etcd key prefix '" + prefix + "' must start with '/' and not end with one");
        }
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("etcd request timeout must be positive, not " + requestTimeout);
        }
    }

    /** Plain-text endpoints (a test cluster on loopback), default timeout 2 s. */
    public static EtcdSettings plain(List<URI> endpoints, String prefix) {
        return new EtcdSettings(endpoints, prefix, Duration.ofSeconds(2), Optional.empty());
    }

    /** The same settings with another request timeout. */
    public EtcdSettings withRequestTimeout(Duration timeout) {
        return new EtcdSettings(endpoints, prefix, timeout, tls);
    }

    /** The same settings talking to other endpoints (e.g. a host that reaches only one member). */
    public EtcdSettings withEndpoints(List<URI> others) {
        return new EtcdSettings(others, prefix, requestTimeout, tls);
    }
}
