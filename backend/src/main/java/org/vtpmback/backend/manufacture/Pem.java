package org.vtpmback.backend.manufacture;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;

/** Certificates and public keys as operators and verifiers take them: PEM text and SHA-256 fingerprints. Stateless. */
public final class Pem {
    private Pem() {
    }

    /** {@code cert} as PEM ({@code CERTIFICATE}). */
    public static String of(X509Certificate cert) {
        try {
            return PemFiles.encode(cert);
        } catch (IOException e) {
            throw new ManufactureException("cannot encode the certificate " + cert.getSubjectX500Principal() + ": "
                    + e.getMessage(), e);
        }
    }

    /** {@code key} as PEM ({@code PUBLIC KEY}, SubjectPublicKeyInfo), as {@code openssl pkey -pubout} prints it. */
    public static String of(PublicKey key) {
        return PemFiles.encode(key);
    }

    /** SHA-256 of {@code cert}'s DER, as {@code openssl x509 -noout -fingerprint -sha256} prints it (AB:CD:...). */
    public static String sha256(X509Certificate cert) {
        try {
            return sha256(cert.getEncoded());
        } catch (CertificateEncodingException e) {
            throw new ManufactureException("cannot DER-encode the certificate " + cert.getSubjectX500Principal(), e);
        }
    }

    /** SHA-256 of {@code key}'s DER (SubjectPublicKeyInfo), in the same form. */
    public static String sha256(PublicKey key) {
        return sha256(key.getEncoded());
    }

    private static String sha256(byte[] der) {
        try {
            return HexFormat.ofDelimiter(":").withUpperCase().formatHex(MessageDigest.getInstance("SHA-256").digest(der));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
