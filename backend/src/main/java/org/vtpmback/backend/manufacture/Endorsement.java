package org.vtpmback.backend.manufacture;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * What a vTPM presents to an attestation verifier, as read from the TPM ({@link EkReader}): its endorsement
 * key and the EK certificate the local CA issued for it (none for TPM 1.2 yet). Immutable.
 *
 * @param family      the TPM's family
 * @param publicKey   the EK's public key
 * @param certificate the EK certificate, if the TPM holds one
 */
public record Endorsement(TpmFamily family, PublicKey publicKey, Optional<X509Certificate> certificate) {
    /**
     * Whether the certificate (if any) certifies {@link #publicKey}: false only if the TPM's owner replaced the EK
     * at its handle with another key.
     */
    public boolean certificateMatchesKey() {
        return certificate.map(c -> c.getPublicKey().equals(publicKey)).orElse(true);
    }

    /** The EK public key as PEM ({@code PUBLIC KEY}, SubjectPublicKeyInfo), as {@code openssl pkey -pubout} prints it. */
    public String publicKeyPem() {
        return PemFiles.encode(publicKey);
    }

    /** The EK certificate as PEM. */
    public Optional<String> certificatePem() {
        return certificate.map(c -> {
            try {
                return PemFiles.encode(c);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** SHA-256 of the certificate's DER, as {@code openssl x509 -noout -fingerprint -sha256} prints it (AB:CD:...). */
    public Optional<String> certificateSha256() {
        return certificate.map(c -> {
            try {
                return fingerprint(c.getEncoded());
            } catch (CertificateEncodingException e) {
                throw new ManufactureException("cannot DER-encode the EK certificate", e);
            }
        });
    }

    /** SHA-256 of the public key's DER (SubjectPublicKeyInfo), in the same form. */
    public String publicKeySha256() {
        return fingerprint(publicKey.getEncoded());
    }

    /** SHA-256 of {@code der} as upper-case hex pairs joined by colons. */
    public static String fingerprint(byte[] der) {
        try {
            return HexFormat.ofDelimiter(":").withUpperCase().formatHex(MessageDigest.getInstance("SHA-256").digest(der));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
