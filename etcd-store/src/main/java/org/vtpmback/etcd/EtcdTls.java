package org.vtpmback.etcd;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The files of a TLS connection to etcd, all PEM: the CA that signed the members' server certificates,
 * and this host's client certificate and private key (etcd runs with {@code --client-cert-auth}).
 * Immutable.
 *
 * @param caCertificate     the CA certificate(s) to trust for the members
 * @param clientCertificate this host's certificate (chain), first the leaf
 * @param clientKey         its private key (PKCS#8, or the traditional RSA/EC forms), unencrypted
 */
public record EtcdTls(Path caCertificate, Path clientCertificate, Path clientKey) {
    public EtcdTls {
        Objects.requireNonNull(caCertificate, "caCertificate");
        Objects.requireNonNull(clientCertificate, "clientCertificate");
        Objects.requireNonNull(clientKey, "clientKey");
    }
}
