package org.vtpmback.backend.manufacture;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.AtomicFiles;

/**
 * The host's local CA for EK certificates, the counterpart of swtpm's {@code swtpm_localca}: a key and
 * a self-signed certificate in one directory ({@code ek-ca.key} 0600, {@code ek-ca.crt} 0644, the
 * directory 0700), created on first use and reused afterwards, so every vTPM of this host chains to the
 * same root an operator can distribute to verifiers.
 *
 * <p>Key type: EC P-256 with SHA256withECDSA. It gives 128-bit security like RSA 3072, but key
 * generation takes milliseconds instead of up to seconds at daemon start, and signatures and certs are
 * smaller (the EK certificate must fit an NV index). Every TPM 2.0 verifier stack (tpm2-tools, go-attestation,
 * keylime, OpenSSL) accepts ECDSA issuers; the EK itself stays the profile's RSA 2048.
 *
 * <p>Never re-created silently: if either file is missing, corrupt or the key does not match the
 * certificate, {@link #loadOrCreate} fails naming the path, because a new CA would orphan every EK
 * certificate already issued. Immutable and thread-safe once loaded; creating the CA is not safe
 * against another process doing the same in the same directory at the same time.
 */
public final class LocalCa {
    /** The CA's private key, PKCS#8 PEM, mode 0600. */
    public static final String KEY_FILE = "ek-ca.key";
    /** The CA's self-signed certificate, PEM, mode 0644. */
    public static final String CERT_FILE = "ek-ca.crt";

    private final PrivateKey key;
    private final X509Certificate certificate;
    private final boolean created;

    private LocalCa(PrivateKey key, X509Certificate certificate, boolean created) {
        this.key = key;
        this.certificate = certificate;
        this.created = created;
    }

    /**
     * Loads the CA from {@code dir}, or creates it there if neither file exists (creating {@code dir} with
     * mode 0700 if needed).
     *
     * @throws ManufactureException if only one of the two files exists, a file is unreadable or corrupt,
     *         or the key does not belong to the certificate; the message names the path
     */
    public static LocalCa loadOrCreate(Path dir) {
        Path keyFile = dir.resolve(KEY_FILE);
        Path certFile = dir.resolve(CERT_FILE);
        boolean haveKey = Files.exists(keyFile, LinkOption.NOFOLLOW_LINKS);
        boolean haveCert = Files.exists(certFile, LinkOption.NOFOLLOW_LINKS);
        if (haveKey && haveCert) {
            return load(keyFile, certFile);
        }
        if (haveKey || haveCert) {
            Path missing = haveKey ? certFile : keyFile;
            throw new ManufactureException("incomplete EK CA in " + dir + ": " + missing + " is missing; refusing to "
                    + "create a new CA over the remaining file (restore it, or remove both to start a new CA)");
        }
        return create(dir, keyFile, certFile);
    }

    private static LocalCa load(Path keyFile, Path certFile) {
        PrivateKey key = PemFiles.readKey(keyFile);
        X509Certificate cert = PemFiles.readCertificate(certFile);
        if (!matches(key, cert.getPublicKey())) {
            throw new ManufactureException(keyFile + " is not the private key of the certificate in " + certFile);
        }
        try {
            cert.verify(cert.getPublicKey(), Bc.PROVIDER);
        } catch (GeneralSecurityException e) {
            throw new ManufactureException(certFile + ": not a valid self-signed certificate: " + e.getMessage(), e);
        }
        if (cert.getBasicConstraints() < 0) {
            throw new ManufactureException(certFile + ": not a CA certificate (basicConstraints CA:false)");
        }
        return new LocalCa(key, cert, false);
    }

    private static LocalCa create(Path dir, Path keyFile, Path certFile) {
        try {
            // durably: a CA whose folder a power cut takes away would be minted again, and every EK
            // certificate issued by the lost one would no longer chain to the host's CA
            AtomicFiles.createPrivateDirectory(dir);
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", Bc.PROVIDER);
            g.initialize(new ECGenParameterSpec("secp256r1"), CaCertificates.RANDOM);
            KeyPair pair = g.generateKeyPair();
            X509Certificate cert = CaCertificates.selfSignedCa(pair, caSubject(hostName()), Instant.now());
            // key first: a crash between the two renames leaves a key without a cert, which loadOrCreate
            // reports instead of silently minting a second CA
            PemFiles.writeAtomically(keyFile, PemFiles.encode(pair.getPrivate()), PemFiles.KEY_MODE);
            PemFiles.writeAtomically(certFile, PemFiles.encode(cert), PemFiles.CERT_MODE);
            return new LocalCa(pair.getPrivate(), cert, true);
        } catch (IOException e) {
            throw new ManufactureException("cannot create the EK CA in " + dir + ": " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new ManufactureException("cannot generate the EK CA key/certificate: " + e.getMessage(), e);
        }
    }

    /** {@code CN=vtpmback local EK CA,OU=<host>,O=vtpmback} (RDN order as printed by RFC 4514). */
    static X500Name caSubject(String host) {
        return new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, "vtpmback")
                .addRDN(BCStyle.OU, host)
                .addRDN(BCStyle.CN, "vtpmback local EK CA")
                .build();
    }

    /** The kernel's hostname (no DNS lookup, unlike InetAddress.getLocalHost()). */
    private static String hostName() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname"), StandardCharsets.US_ASCII).strip();
            return h.isEmpty() ? "localhost" : h;
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** Signs a fresh challenge with {@code key} and checks it with {@code pub}: true if they form a pair. */
    private static boolean matches(PrivateKey key, PublicKey pub) {
        try {
            byte[] challenge = UUID.randomUUID().toString().getBytes(StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance(CaCertificates.SIGNATURE_ALGORITHM, Bc.PROVIDER);
            s.initSign(key, CaCertificates.RANDOM);
            s.update(challenge);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(CaCertificates.SIGNATURE_ALGORITHM, Bc.PROVIDER);
            v.initVerify(pub);
            v.update(challenge);
            return v.verify(sig);
        } catch (GeneralSecurityException e) {
            return false; // e.g. an RSA key next to an EC certificate
        }
    }

    /** Whether {@link #loadOrCreate} created this CA (there was none), rather than loading it. */
    public boolean created() {
        return created;
    }

    /** The CA's self-signed certificate, to hand to verifiers. */
    public X509Certificate certificate() {
        return certificate;
    }

    /**
     * Issues an EK certificate for {@code ekPublic} with the identity swtpm_setup would certify for
     * {@code family} (see {@link TpmIdentity#swtpmDefault}).
     */
    public X509Certificate issueEkCertificate(PublicKey ekPublic, String vtpmUuid, TpmFamily family) {
        return issueEkCertificate(ekPublic, vtpmUuid, TpmIdentity.swtpmDefault(family));
    }

    /**
     * Issues an EK certificate (TCG EK Credential Profile 2.0 §3.2) for {@code ekPublic}, subject
     * {@code CN=vtpm <uuid>}, naming the TPM as {@code identity} says.
     *
     * @throws IllegalArgumentException if {@code vtpmUuid} is not a UUID
     */
    public X509Certificate issueEkCertificate(PublicKey ekPublic, String vtpmUuid, TpmIdentity identity) {
        Objects.requireNonNull(ekPublic, "ekPublic");
        String uuid = UUID.fromString(vtpmUuid).toString(); // canonical lower case; throws if malformed
        try {
            return CaCertificates.ekCertificate(certificate, key, ekPublic, uuid, identity, Instant.now());
        } catch (GeneralSecurityException e) {
            throw new ManufactureException("cannot issue the EK certificate for vtpm " + uuid + ": " + e.getMessage(),
                    e);
        }
    }
}
