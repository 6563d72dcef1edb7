package org.vtpmback.etcd;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * An {@link SSLContext} for etcd from PEM files, the form etcd and its docs use: trust only the given
 * CA (not the JDK's public roots) and present this host's client certificate. Bouncy Castle reads
 * the private key (the JDK reads no PEM).
 */
final class TlsContexts {
    private TlsContexts() {
    }

    static SSLContext of(EtcdTls tls) throws EtcdStoreException {
        try {
            char[] none = new char[0];
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            int i = 0;
            for (X509Certificate ca : certificates(tls.caCertificate())) {
                trust.setCertificateEntry("ca-" + i++, ca);
            }
            KeyStore identity = KeyStore.getInstance("PKCS12");
            identity.load(null, null);
            List<X509Certificate> chain = certificates(tls.clientCertificate());
            identity.setKeyEntry("client", privateKey(tls.clientKey()), none, chain.toArray(new Certificate[0]));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(identity, none);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new EtcdStoreException("cannot set up TLS to etcd from CA " + tls.caCertificate() + ", certificate "
                    + tls.clientCertificate() + " and key " + tls.clientKey() + ": " + e.getMessage()
                    + " (all three must be readable PEM files)", e);
        }
    }

    private static List<X509Certificate> certificates(Path pem) throws IOException, GeneralSecurityException {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> certs = new ArrayList<>();
        try (var in = Files.newInputStream(pem)) {
            for (Certificate c : cf.generateCertificates(in)) {
                certs.add((X509Certificate) c);
            }
        }
        if (certs.isEmpty()) {
            throw new IOException("no certificate in " + pem);
        }
        return certs;
    }

    private static PrivateKey privateKey(Path pem) throws IOException {
        try (Reader r = Files.newBufferedReader(pem, StandardCharsets.US_ASCII); PEMParser parser = new PEMParser(r)) {
            Object o = parser.readObject();
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (o instanceof PEMKeyPair pair) {
                return converter.getKeyPair(pair).getPrivate();
            }
            if (o instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            throw new IOException("no unencrypted private key in " + pem + " (found " + (o == null ? "nothing" : o.getClass().getSimpleName()) + ")");
        }
    }
}
