package org.vtpmback.test.etcd;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.vtpmback.etcd.EtcdTls;

/**
 * A throw-away PKI for a test cluster, made with Bouncy Castle: one CA (EC P-256), a server certificate
 * for the members (SAN 127.0.0.1 and localhost), and one client certificate. All PEM, private keys
 * PKCS#8, as etcd reads them.
 *
 * <p>The server certificate carries clientAuth besides serverAuth: etcd 3.4's JSON gateway dials the
 * member's own gRPC port with it, and {@code --client-cert-auth} then checks it as a client.
 */
final class EtcdTlsFiles {
    static final String CA = "ca.pem";
    static final String SERVER = "server.pem";
    static final String SERVER_KEY = "server-key.pem";
    static final String CLIENT = "client.pem";
    static final String CLIENT_KEY = "client-key.pem";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path dir;
    private final SSLContext clientContext;

    private EtcdTlsFiles(Path dir, SSLContext clientContext) {
        this.dir = dir;
        this.clientContext = clientContext;
    }

    /** Makes CA, server and client certificates and keys in {@code dir}. */
    static EtcdTlsFiles create(Path dir) throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        Instant now = Instant.now();
        KeyPair caKey = ecKey();
        X500Name caName = new X500Name("CN=vtpmback test etcd CA");
        X509Certificate ca = issue(caName, caKey, caName, caKey, now, true, null);
        KeyPair serverKey = ecKey();
        X509Certificate server = issue(new X500Name("CN=etcd member"), serverKey, caName, caKey, now, false,
                new GeneralNames(new GeneralName[] {
                        new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                        new GeneralName(GeneralName.dNSName, "localhost")}));
        KeyPair clientKey = ecKey();
        X509Certificate client = issue(new X500Name("CN=vtpmback host"), clientKey, caName, caKey, now, false, null);
        writePem(dir.resolve(CA), ca);
        writePem(dir.resolve(SERVER), server);
        writePem(dir.resolve(SERVER_KEY), new JcaPKCS8Generator(serverKey.getPrivate(), null));
        writePem(dir.resolve(CLIENT), client);
        writePem(dir.resolve(CLIENT_KEY), new JcaPKCS8Generator(clientKey.getPrivate(), null));
        return new EtcdTlsFiles(dir, context(ca, client, clientKey));
    }

    Path dir() {
        return dir;
    }

    /** The client side as etcd-store takes it. */
    EtcdTls clientTls() {
        return new EtcdTls(dir.resolve(CA), dir.resolve(CLIENT), dir.resolve(CLIENT_KEY));
    }

    /** The same client identity for the fixture's own health checks. */
    SSLContext clientContext() {
        return clientContext;
    }

    private static KeyPair ecKey() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
        return g.generateKeyPair();
    }

    private static X509Certificate issue(X500Name subject, KeyPair subjectKey, X500Name issuer, KeyPair issuerKey,
                                         Instant now, boolean isCa, GeneralNames san) throws GeneralSecurityException, IOException {
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, new BigInteger(64, RANDOM),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(2))), subject,
                subjectKey.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
        if (isCa) {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        } else {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement));
            b.addExtension(Extension.extendedKeyUsage, false,
                    new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
        }
        if (san != null) {
            b.addExtension(Extension.subjectAlternativeName, false, san);
        }
        try {
            return new JcaX509CertificateConverter().getCertificate(
                    b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey.getPrivate())));
        } catch (org.bouncycastle.operator.OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static void writePem(Path file, Object object) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(object);
        }
        Files.writeString(file, s.toString());
    }

    private static SSLContext context(X509Certificate ca, X509Certificate client, KeyPair clientKey)
            throws GeneralSecurityException, IOException {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", ca);
        KeyStore identity = KeyStore.getInstance("PKCS12");
        identity.load(null, null);
        identity.setKeyEntry("client", clientKey.getPrivate(), new char[0], new X509Certificate[] {client});
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(identity, new char[0]);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }
}
