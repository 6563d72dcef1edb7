package org.vtpmback.backend.manufacture;

import java.io.ByteArrayInputStream;
import java.security.PublicKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Reads a vTPM's endorsement where manufacture put it (and where guests find it): for TPM 2.0 the EK at
 * {@link EkManufacturer#EK_HANDLE} and the certificate in NV {@link EkManufacturer#EK_CERT_NV_INDEX}; for
 * TPM 1.2 the EK through TPM_ReadPubek and the certificate in NV {@link EkManufacturer#TPM12_EK_CERT_NV_INDEX}. Read
 * with no owner secret: the TPM 2.0 certificate index is readable with its own empty auth ({@link NvAttributes#EK_CERT}),
 * the TPM 1.2 one without any ({@link Tpm12EkCertificate}). The TPM must be started. Stateless.
 */
public final class EkReader {
    private EkReader() {
    }

    /**
     * The endorsement of the TPM behind {@code engine}.
     *
     * @throws ManufactureException if it has none that can be read: not manufactured, or (TPM 1.2) an owner
     *         disabled TPM_ReadPubek; the message says which
     */
    public static Endorsement read(TpmEngine engine) {
        if (engine.family() == TpmFamily.TPM12) {
            return readTpm12(engine);
        }
        Tpm2Client tpm = new Tpm2Client(engine);
        Optional<X509Certificate> cert = certificate(tpm);
        Optional<PublicKey> ek = tpm.readPublic(EkManufacturer.EK_HANDLE).<PublicKey>map(EkTemplate::publicKey);
        // the guest's owner may evict the persistent EK; the certificate still names it
        PublicKey key = ek.or(() -> cert.map(X509Certificate::getPublicKey)).orElseThrow(() -> new ManufactureException(
                "the TPM 2.0 has neither an EK at 0x81010001 nor an EK certificate in NV 0x01c00002: it was not manufactured"));
        return new Endorsement(TpmFamily.TPM2, key, cert);
    }

    private static Endorsement readTpm12(TpmEngine engine) {
        Optional<X509Certificate> cert = Tpm12EkCertificate.read(engine);
        // once the guest took ownership, TPM_ReadPubek is disabled; the certificate still names the EK
        PublicKey key = Tpm12Endorsement.readPubek(engine).<PublicKey>map(k -> k)
                .or(() -> cert.map(X509Certificate::getPublicKey)).orElseThrow(() -> new ManufactureException(
                        "the TPM 1.2 has an owner, who disabled TPM_ReadPubek, and no EK certificate in NV "
                                + EkManufacturer.nvIndexName(TpmFamily.TPM12) + ": its EK is readable only with the owner"
                                + " secret (in the guest: tpm_getpubek)"));
        return new Endorsement(TpmFamily.TPM12, key, cert);
    }

    private static Optional<X509Certificate> certificate(Tpm2Client tpm) {
        int index = EkManufacturer.EK_CERT_NV_INDEX;
        Optional<Tpm2Client.NvPublic> nv = tpm.nvReadPublic(index).filter(Tpm2Client.NvPublic::written);
        if (nv.isEmpty()) {
            return Optional.empty();
        }
        byte[] der = tpm.nvRead(index, index, nv.get().dataSize(), EkManufacturer.nvChunk(tpm));
        try {
            return Optional.of((X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(der)));
        } catch (CertificateException e) {
            throw new ManufactureException("NV 0x01c00002 holds no readable EK certificate (" + der.length + " bytes): "
                    + e.getMessage(), e);
        }
    }
}
