package org.vtpmback.hotplug.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Where the daemon keeps its vTPM records ({@code store} and the {@code etcd-*}, {@code pool-host-id} keys):
 * this host's folder, or a pool's etcd cluster (docs/pool.md). Immutable; the cross-key rules are
 * {@link #problem()}'s.
 *
 * @param kind       {@code store}: local (default) or etcd
 * @param endpoints  {@code etcd-endpoints}: the members' client URLs
 * @param ca         {@code etcd-ca}: the CA of the members' certificates (PEM); with cert and key: TLS
 * @param cert       {@code etcd-cert}: this host's client certificate (PEM)
 * @param key        {@code etcd-key}: its private key (PEM, unencrypted)
 * @param prefix     {@code etcd-prefix}: the pool's folder of keys
 * @param leaseTtl   {@code etcd-lease-ttl}: the host lease's TTL in seconds
 * @param hostId     {@code pool-host-id}: this host's name in the pool; empty: the host name
 */
public record StoreSettings(Kind kind, List<URI> endpoints, Optional<Path> ca, Optional<Path> cert, Optional<Path> key,
                            String prefix, int leaseTtl, Optional<String> hostId) {
    public static final String DEFAULT_PREFIX = "/vtpmback";
    /** Long enough to ride out a short hiccup of etcd, short enough for a failover in well under a minute. */
    public static final int DEFAULT_LEASE_TTL = 10;
    public static final StoreSettings LOCAL = new StoreSettings(Kind.LOCAL, List.of(), Optional.empty(), Optional.empty(),
            Optional.empty(), DEFAULT_PREFIX, DEFAULT_LEASE_TTL, Optional.empty());

    /** {@code store}. */
    public enum Kind {
        LOCAL, ETCD;

        public String configValue() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public StoreSettings {
        Objects.requireNonNull(kind, "kind");
        endpoints = List.copyOf(endpoints);
        Objects.requireNonNull(ca, "ca");
        Objects.requireNonNull(cert, "cert");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(hostId, "hostId");
    }

    /** Whether TLS files are given (all three, {@link #problem()} checks). */
    public boolean tls() {
        return ca.isPresent();
    }

    /**
     * What is wrong with the keys taken together, as a sentence that says what to do; empty if nothing. Each key's own
     * value is checked as it is read ({@link ConfigLoader}).
     */
    public Optional<String> problem() {
        if (kind == Kind.LOCAL) {
            return Optional.empty();
        }
        if (endpoints.isEmpty()) {
            return Optional.of("store = etcd needs etcd-endpoints: set it to the client URLs of the pool's etcd members,"
                    + " e.g. etcd-endpoints = https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379");
        }
        long given = java.util.stream.Stream.of(ca, cert, key).filter(Optional::isPresent).count();
        if (given != 0 && given != 3) {
            return Optional.of("etcd-ca, etcd-cert and etcd-key go together (TLS with a client certificate): set all three,"
                    + " or none for plain http");
        }
        List<URI> mismatched = endpoints.stream().filter(e -> "https".equals(e.getScheme()) != tls()).toList();
        if (!mismatched.isEmpty()) {
            return Optional.of(tls()
                    ? "etcd-ca, etcd-cert and etcd-key are set, but etcd-endpoints has http URLs (" + join(mismatched)
                            + "): use https:// for every member, or drop the TLS keys"
                    : "etcd-endpoints has https URLs (" + join(mismatched) + ") but no TLS files: set etcd-ca, etcd-cert"
                            + " and etcd-key (PEM files of the pool's CA and this host's client certificate and key)");
        }
        return Optional.empty();
    }

    private static String join(List<URI> uris) {
        return uris.stream().map(URI::toString).collect(Collectors.joining(", "));
    }
}
