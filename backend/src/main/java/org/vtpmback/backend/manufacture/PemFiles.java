package org.vtpmback.backend.manufacture;

import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Set;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;
import org.vtpmback.backend.state.AtomicFiles;

/**
 * PEM encoding of the CA key (PKCS#8 "PRIVATE KEY") and certificate, written through
 * {@link AtomicFiles} (the one place for crash-safe writes): created with its final permissions (the
 * key is never readable by others, not even for an instant), fsynced, renamed over the target, the
 * folder fsynced.
 */
final class PemFiles {
    static final Set<PosixFilePermission> KEY_MODE = PosixFilePermissions.fromString("rw-------");
    static final Set<PosixFilePermission> CERT_MODE = PosixFilePermissions.fromString("rw-r--r--");

    private PemFiles() {
    }

    static String encode(PrivateKey key) throws IOException {
        return pem(new JcaPKCS8Generator(key, null).generate());
    }

    static String encode(X509Certificate cert) throws IOException {
        try {
            return pem(new PemObject("CERTIFICATE", cert.getEncoded()));
        } catch (CertificateException e) {
            throw new IOException("cannot encode certificate", e);
        }
    }

    /** A public key as {@code PUBLIC KEY} (SubjectPublicKeyInfo); in memory, so it cannot fail. */
    static String encode(PublicKey key) {
        try {
            return pem(new PemObject("PUBLIC KEY", key.getEncoded()));
        } catch (IOException e) {
            throw new IllegalStateException("writing PEM to memory failed", e);
        }
    }

    private static String pem(PemObject o) throws IOException {
        StringWriter s = new StringWriter();
        try (PemWriter w = new PemWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }

    /** Reads the single PKCS#8 private key in {@code file}; a clear error names the file otherwise. */
    static PrivateKey readKey(Path file) {
        Object o = readObject(file);
        if (!(o instanceof PrivateKeyInfo info)) {
            throw new ManufactureException(file + ": not a PKCS#8 private key (found " + describe(o) + ")");
        }
        try {
            return new JcaPEMKeyConverter().setProvider(Bc.PROVIDER).getPrivateKey(info);
        } catch (IOException | RuntimeException e) {
            throw new ManufactureException(file + ": unreadable private key: " + e.getMessage(), e);
        }
    }

    /** Reads the single X.509 certificate in {@code file}; a clear error names the file otherwise. */
    static X509Certificate readCertificate(Path file) {
        Object o = readObject(file);
        if (!(o instanceof X509CertificateHolder holder)) {
            throw new ManufactureException(file + ": not an X.509 certificate (found " + describe(o) + ")");
        }
        try {
            return new JcaX509CertificateConverter().setProvider(Bc.PROVIDER).getCertificate(holder);
        } catch (CertificateException e) {
            throw new ManufactureException(file + ": unreadable certificate: " + e.getMessage(), e);
        }
    }

    private static Object readObject(Path file) {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
             PEMParser p = new PEMParser(r)) {
            return p.readObject();
        } catch (IOException | RuntimeException e) {
            // BC throws PEMException (an IOException) or runtime exceptions for bad base64/DER
            throw new ManufactureException(file + ": corrupt PEM: " + e.getMessage(), e);
        }
    }

    private static String describe(Object o) {
        return o == null ? "no PEM object" : o.getClass().getSimpleName();
    }

    /** Atomically and durably replaces {@code target} with {@code text}, the file having {@code mode} from creation. */
    static void writeAtomically(Path target, String text, Set<PosixFilePermission> mode) throws IOException {
        AtomicFiles.write(target, text.getBytes(StandardCharsets.US_ASCII), mode);
    }
}
