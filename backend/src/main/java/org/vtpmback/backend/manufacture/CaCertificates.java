package org.vtpmback.backend.manufacture;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.x509.Attribute;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectDirectoryAttributes;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Builds the local CA's self-signed certificate and the EK certificates it issues, with Bouncy
 * Castle's builders and the explicit {@link Bc#PROVIDER}. Stateless; thread-safe.
 */
final class CaCertificates {
    /** tcg-kp-EKCertificate (TCG EK Credential Profile 2.0 §3.2.16). */
    static final ASN1ObjectIdentifier TCG_KP_EK_CERTIFICATE = new ASN1ObjectIdentifier("2.23.133.8.1");
    /** tcg-at-tpmManufacturer, -tpmModel, -tpmVersion (§3.1.2), -tpmSpecification (§3.2.10). */
    static final ASN1ObjectIdentifier TPM_MANUFACTURER = new ASN1ObjectIdentifier("2.23.133.2.1");
    static final ASN1ObjectIdentifier TPM_MODEL = new ASN1ObjectIdentifier("2.23.133.2.2");
    static final ASN1ObjectIdentifier TPM_VERSION = new ASN1ObjectIdentifier("2.23.133.2.3");
    static final ASN1ObjectIdentifier TPM_SPECIFICATION = new ASN1ObjectIdentifier("2.23.133.2.16");
    static final String SIGNATURE_ALGORITHM = "SHA256withECDSA";
    static final Duration CA_VALIDITY = Duration.ofDays(20 * 365 + 5);
    /** Certificates start slightly in the past so a verifier whose clock lags a little accepts them. */
    static final Duration BACKDATE = Duration.ofHours(1);
    private static final int SERIAL_BYTES = 16;
    /**
     * The JDK's non-blocking SecureRandom, handed to BC explicitly: BC's own default DRBG gathers seed
     * entropy itself, which took seconds on a fresh JVM.
     */
    static final SecureRandom RANDOM = new SecureRandom();

    private CaCertificates() {
    }

    /** CA: basicConstraints CA:true and keyUsage keyCertSign|cRLSign (both critical), SKI; 20 years. */
    static X509Certificate selfSignedCa(KeyPair pair, X500Name subject, Instant now) throws GeneralSecurityException {
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(now.plus(CA_VALIDITY)), subject, pair.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
            return sign(b, pair.getPrivate());
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot encode CA extension", e);
        }
    }

    /**
     * EK certificate (TCG EK Credential Profile 2.0 §3.2): v3, random positive 16-byte serial, valid from
     * now until the CA expires (it cannot outlive its issuer), subject {@code CN=vtpm <uuid>} for operators
     * (the profile allows an empty one), SAN directoryName with the TPM's manufacturer/model/version,
     * subjectDirectoryAttributes with its TPMSpecification, keyUsage keyEncipherment (RSA EK; keyAgreement
     * for an ECC one) and basicConstraints CA:false, both critical, EKU tcg-kp-EKCertificate, AKI.
     * The same for a TPM 1.2's EK, whose TPMSpecification says family 1.2: one profile for both families.
     * swtpm_cert makes a TPM 1.2 EK certificate differently in two ways we do not follow: an empty subject
     * (ours names the vTPM's uuid, as for TPM 2.0) and a SHA-1 signature (ours stays SHA256withECDSA: a
     * verifier limited to SHA-1 could not check this CA's ECDSA signature either).
     */
    static X509Certificate ekCertificate(X509Certificate ca, PrivateKey caKey, PublicKey ek, String uuid,
                                         TpmIdentity id, Instant now) throws GeneralSecurityException {
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, "vtpm " + uuid).build();
        // one RDN per attribute, the way swtpm_localca (and e.g. Infineon's EK certs) encode it
        X500Name tpm = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(TPM_MANUFACTURER, new DERUTF8String(id.manufacturer()))
                .addRDN(TPM_MODEL, new DERUTF8String(id.model()))
                .addRDN(TPM_VERSION, new DERUTF8String(id.version()))
                .build();
        ASN1Encodable spec = new DERSequence(new ASN1Encodable[] {
            new DERUTF8String(id.specFamily()), new ASN1Integer(id.specLevel()), new ASN1Integer(id.specRevision())});
        Date notAfter = ca.getNotAfter();
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(ca, serial(),
                    Date.from(now.minus(BACKDATE)), notAfter, subject, ek);
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true,
                    new KeyUsage(ek instanceof RSAPublicKey ? KeyUsage.keyEncipherment : KeyUsage.keyAgreement));
            b.addExtension(Extension.extendedKeyUsage, false,
                    new ExtendedKeyUsage(KeyPurposeId.getInstance(TCG_KP_EK_CERTIFICATE)));
            // critical only if the subject were empty (RFC 5280 §4.2.1.6); ours is not
            b.addExtension(Extension.subjectAlternativeName, false,
                    new GeneralNames(new GeneralName(GeneralName.directoryName, tpm)));
            b.addExtension(Extension.subjectDirectoryAttributes, false,
                    new SubjectDirectoryAttributes(new java.util.Vector<>(java.util.List.of(
                            new Attribute(TPM_SPECIFICATION, new DERSet(spec))))));
            // keyIdentifier only (the CA's SKI), no issuer/serial: a re-issued CA cert with the same key still matches
            b.addExtension(Extension.authorityKeyIdentifier, false, new AuthorityKeyIdentifier(caKeyId(ca)));
            return sign(b, caKey);
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot encode EK certificate extension", e);
        }
    }

    /** The CA certificate's subjectKeyIdentifier, or one computed from its key (RFC 5280 §4.2.1.2 method 1). */
    private static byte[] caKeyId(X509Certificate ca) throws GeneralSecurityException {
        byte[] ext = ca.getExtensionValue(Extension.subjectKeyIdentifier.getId());
        if (ext != null) {
            return SubjectKeyIdentifier.getInstance(ASN1OctetString.getInstance(ext).getOctets()).getKeyIdentifier();
        }
        return new JcaX509ExtensionUtils().createSubjectKeyIdentifier(ca.getPublicKey()).getKeyIdentifier();
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().setProvider(Bc.PROVIDER)
                    .getCertificate(b.build(new JcaContentSignerBuilder(SIGNATURE_ALGORITHM)
                            .setProvider(Bc.PROVIDER).setSecureRandom(RANDOM).build(key)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign with " + SIGNATURE_ALGORITHM, e);
        }
    }

    /** RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes with the top bit clear. */
    static BigInteger serial() {
        byte[] b = new byte[SERIAL_BYTES];
        RANDOM.nextBytes(b);
        b[0] = (byte) ((b[0] & 0x7F) | 0x40); // positive and exactly 16 bytes long
        return new BigInteger(1, b);
    }
}
