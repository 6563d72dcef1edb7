package org.vtpmback.backend.manufacture;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;
import org.vtpmback.backend.engine.TpmEngine;

/**
 * Where a TPM 1.2 keeps its EK certificate, and in what form: the TCG NV index TPM_NV_INDEX_EKCert with the D bit,
 * 0x1000f000 (libtpms {@code tpm_constants.h}; swtpm_setup {@code swtpm_tpm12_write_ek_cert_nvram} writes it there),
 * holding the certificate in the TCG PC Client stored-certificate format: TCG_PCCLIENT_STORED_CERT {tag 0x1001, certType 0 (full certificate), certSize} and the
 * TCG_PCCLIENT_FULL_CERT tag 0x1002 before the DER, certSize counting that second tag (swtpm_cert
 * {@code --add-header}). TPM 1.2 guest tools read it so (e.g. go-tspi's {@code attestation.GetEKCert}: tag 0x1001,
 * certType 0, then 0x1002 or the DER). Stateless.
 *
 * <p>The index's permissions are TPM_NV_PER_WRITEDEFINE alone, a choice of ours (swtpm_setup gives
 * OWNERREAD|OWNERWRITE):
 * <ul>
 * <li><b>no read restriction</b> (no OWNERREAD, AUTHREAD or PPREAD): a guest's attestation tools read it with a plain
 *     TPM_NV_ReadValue, no owner secret, no physical presence, whether or not the guest took ownership, enabled or
 *     activated its TPM or locked NV (Part 3 §20.4: without OWNERREAD an unauthorized read is allowed even with
 *     nvLocked). TrouSerS' {@code Tspi_NV_ReadValue}, under go-tspi's {@code GetEKCert}, then sends no
 *     authorization whatever secret its policy holds (it authorizes only for AUTHREAD or OWNERREAD). This is how the TPM 2.0 vTPMs' certificate reads (AUTHREAD with the index's empty auth,
 *     {@link NvAttributes#EK_CERT}), and what {@code vtpmback ek} needs: it reads the stored TPM, without the guest's
 *     owner secret. With OWNERREAD an owner-less TPM (every new vTPM) could not give it to anyone once NV is locked.
 *     It exposes the EK public key, which TPM 1.2 hides from all but the owner after TPM_TakeOwnership (readPubek
 *     FALSE): in a vTPM the only readers are the guest's own processes that may use its TPM, and the host operator
 *     knows it anyway;</li>
 * <li><b>written once</b>: after the certificate, a write of size 0 sets bWriteDefine, and the D bit keeps the index
 *     from being deleted, including by TPM_OwnerClear (it removes only owner indices without the D bit). Both take
 *     effect once NV is locked (TPM_NV_DefineSpace of TPM_NV_INDEX_LOCK, what platform firmware does); until then the
 *     TPM ignores NV authorization (Part 3 §20.2 action 1), as every vTPM's NV always was. That is left to the guest:
 *     locking it here would make every NV definition of the guest need its owner or physical presence. A guest
 *     could thus rewrite or delete its own certificate before locking NV; a verifier checks it against the CA, so
 *     that can only cost the guest its own attestation, never forge one.</li>
 * </ul>
 * Storing it takes three of the 64 NV writes a TPM 1.2 allows without an owner (TPM_MAX_NV_WRITE_NOOWNER): the
 * definition, the certificate (one chunk), the locking write.
 */
final class Tpm12EkCertificate {
    /** TPM_NV_INDEX_EKCert (0xf000) with the D bit. */
    static final int NV_INDEX = Tpm12Nv.INDEX_D_BIT | 0xF000;
    static final int PERMISSIONS = Tpm12Nv.PER_WRITEDEFINE;
    /** TCG_TAG_PCCLIENT_STORED_CERT and TCG_TAG_PCCLIENT_FULL_CERT (as swtpm_cert names them). */
    static final int TAG_STORED_CERT = 0x1001;
    static final int TAG_FULL_CERT = 0x1002;
    /** tag, certType, certSize, then the full-cert tag. */
    static final int HEADER_SIZE = 2 + 1 + 2 + 2;
    private static final int CERT_TYPE_FULL = 0;
    private static final int MAX_CERT_SIZE = 0xFFFF - 2;

    private Tpm12EkCertificate() {
    }

    /**
     * Defines {@link #NV_INDEX}, writes the certificate {@code issue} gives into it with the header, and, if
     * {@code lock}, write-locks it. {@code issue} runs only once the index is known to be free.
     *
     * @return the certificate stored
     * @throws ManufactureException if the index exists (it is refused, not overwritten) or a command fails
     */
    static X509Certificate store(TpmEngine engine, String uuid, boolean lock, Supplier<X509Certificate> issue) {
        Tpm12Nv nv = new Tpm12Nv(engine);
        if (nv.dataPublic(NV_INDEX).isPresent()) {
            throw new ManufactureException(String.format(Locale.ROOT, "vtpm %s already has an EK certificate index NV"
                    + " 0x%08x; refusing to overwrite it", uuid, NV_INDEX));
        }
        X509Certificate cert = issue.get();
        byte[] stored = wrap(der(cert));
        nv.defineSpace(NV_INDEX, PERMISSIONS, stored.length);
        nv.writeValue(NV_INDEX, 0, stored);
        if (lock) {
            nv.writeValue(NV_INDEX, 0, new byte[0]);
        }
        return cert;
    }

    /** Whether the TPM has {@link #NV_INDEX} defined. */
    static boolean defined(TpmEngine engine) {
        return new Tpm12Nv(engine).dataPublic(NV_INDEX).isPresent();
    }

    /**
     * The certificate in {@link #NV_INDEX}, read without authorization as a guest reads it; empty if the index is not
     * defined.
     *
     * @throws ManufactureException if the index holds no stored certificate, or the read fails
     */
    static Optional<X509Certificate> read(TpmEngine engine) {
        Tpm12Nv nv = new Tpm12Nv(engine);
        Optional<Tpm12Nv.DataPublic> pub = nv.dataPublic(NV_INDEX);
        if (pub.isEmpty()) {
            return Optional.empty();
        }
        byte[] der = unwrap(nv.readValue(NV_INDEX, 0, pub.get().dataSize()));
        try {
            return Optional.of((X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(der)));
        } catch (CertificateException e) {
            throw new ManufactureException(String.format(Locale.ROOT, "NV 0x%08x holds no readable EK certificate (%d bytes"
                    + " of DER): %s", NV_INDEX, der.length, e.getMessage()), e);
        }
    }

    /** The PC Client stored-certificate form of {@code der}: the 7-byte header, then the DER. */
    static byte[] wrap(byte[] der) {
        if (der.length > MAX_CERT_SIZE) {
            throw new ManufactureException("EK certificate of " + der.length + " bytes does not fit the 16-bit certSize");
        }
        return ByteBuffer.allocate(HEADER_SIZE + der.length).putShort((short) TAG_STORED_CERT).put((byte) CERT_TYPE_FULL)
                .putShort((short) (der.length + 2)).putShort((short) TAG_FULL_CERT).put(der).array();
    }

    /**
     * The DER in a stored certificate, its header checked (certSize must fit the data; bytes after it, which an index
     * larger than its certificate holds, are ignored).
     *
     * @throws ManufactureException if the header is not a full certificate's
     */
    static byte[] unwrap(byte[] stored) {
        ByteBuffer b = ByteBuffer.wrap(stored);
        if (stored.length < HEADER_SIZE || Short.toUnsignedInt(b.getShort(0)) != TAG_STORED_CERT || b.get(2) != CERT_TYPE_FULL
                || Short.toUnsignedInt(b.getShort(5)) != TAG_FULL_CERT) {
            throw new ManufactureException(String.format(Locale.ROOT, "NV 0x%08x does not start with a TCG stored full"
                    + " certificate header (0x1001, 0, size, 0x1002): %s", NV_INDEX,
                    java.util.HexFormat.of().formatHex(Arrays.copyOf(stored, Math.min(stored.length, HEADER_SIZE)))));
        }
        int size = Short.toUnsignedInt(b.getShort(3)) - 2;
        if (size <= 0 || HEADER_SIZE + size > stored.length) {
            throw new ManufactureException(String.format(Locale.ROOT, "NV 0x%08x: certSize %d does not fit its %d bytes",
                    NV_INDEX, size + 2, stored.length));
        }
        return Arrays.copyOfRange(stored, HEADER_SIZE, HEADER_SIZE + size);
    }

    private static byte[] der(X509Certificate cert) {
        try {
            return cert.getEncoded();
        } catch (CertificateEncodingException e) {
            throw new ManufactureException("cannot DER-encode the EK certificate", e);
        }
    }
}
