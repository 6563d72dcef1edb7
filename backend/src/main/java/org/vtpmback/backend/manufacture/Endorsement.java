package org.vtpmback.backend.manufacture;

import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * What a vTPM presents to an attestation verifier, as read from the TPM ({@link EkReader}): its endorsement
 * key and the EK certificate the local CA issued for it (none for a vTPM made before TPM 1.2 vTPMs got one).
 * Immutable.
 *
 * @param family      the TPM's family
 * @param publicKey   the EK's public key
 * @param certificate the EK certificate, if the TPM holds one
 */
public record Endorsement(TpmFamily family, PublicKey publicKey, Optional<X509Certificate> certificate) {
    /**
     * Whether the certificate (if any) certifies {@link #publicKey}: false only if the TPM's owner replaced the EK
     * (TPM 2.0: the key at its handle).
     */
    public boolean certificateMatchesKey() {
        return certificate.map(c -> c.getPublicKey().equals(publicKey)).orElse(true);
    }

    /** The EK public key as PEM ({@link Pem#of(PublicKey)}). */
    public String publicKeyPem() {
        return Pem.of(publicKey);
    }

    /** The EK certificate as PEM. */
    public Optional<String> certificatePem() {
        return certificate.map(Pem::of);
    }

    /** The certificate's SHA-256 fingerprint ({@link Pem#sha256(X509Certificate)}). */
    public Optional<String> certificateSha256() {
        return certificate.map(Pem::sha256);
    }

    /** The public key's SHA-256 fingerprint ({@link Pem#sha256(PublicKey)}). */
    public String publicKeySha256() {
        return Pem.sha256(publicKey);
    }
}
