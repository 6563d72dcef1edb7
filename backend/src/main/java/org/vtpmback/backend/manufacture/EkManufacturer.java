package org.vtpmback.backend.manufacture;

import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_RH_ENDORSEMENT;
import static org.vtpmback.backend.manufacture.Tpm2Marshal.TPM_RH_PLATFORM;

import java.lang.System.Logger.Level;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.util.Locale;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * "Manufactures" a vTPM on its first start, as a TPM vendor (or {@code swtpm_setup --createek
 * --create-ek-cert --lock-nvram}, xen-vtpm-protocol.md §5.5) would: it creates the Endorsement Key and stores an EK
 * certificate from the host's {@link LocalCa} where guest tools look for it. For TPM 2.0 the EK comes from the TCG
 * default RSA 2048 template, persisted at the TCG handle, and the certificate goes into the TCG NV index
 * ({@code tpm2_nvread 0x1c00002}, {@code tpm2_getekcertificate}); for TPM 1.2 the EK is the TPM's endorsement key
 * pair and the certificate goes into NV 0x1000f000 ({@link Tpm12EkCertificate}).
 *
 * <p>Preconditions: the engine's TPM was just started ({@code initClear()} + Startup(CLEAR)), so the
 * platform hierarchy is enabled and all hierarchy passwords are empty (TPM 1.2: no owner, NV not locked); nothing
 * else has used it yet.
 * Manufacturing changes permanent state command by command and cannot be rolled back: a failure leaves
 * a half-manufactured state, so callers should manufacture a fresh state dir and adopt it only when
 * this returns (never re-manufacture an existing state, xen-vtpm-protocol.md pitfall 1).
 *
 * <p>Stateless; the engine passed in is confined to the calling thread as {@link TpmEngine} requires.
 */
public final class EkManufacturer {
    /** TCG persistent handle of the RSA 2048 EK (TCG TPM v2.0 Provisioning Guide §7.8, Table 2). */
    public static final int EK_HANDLE = 0x81010001;
    /** TCG NV index of the RSA 2048 EK certificate (EK Credential Profile 2.0 §2.2.1.4). */
    public static final int EK_CERT_NV_INDEX = 0x01C00002;
    /** TCG NV index of a TPM 1.2's EK certificate, TPM_NV_INDEX_EKCert with the D bit ({@link Tpm12EkCertificate}). */
    public static final int TPM12_EK_CERT_NV_INDEX = Tpm12EkCertificate.NV_INDEX;
    /** Chunk size for NV writes when the TPM does not report TPM_PT_NV_BUFFER_MAX (swtpm_setup uses 1024). */
    static final int DEFAULT_NV_CHUNK = 1024;
    /** TPM 2.0 Part 2 §6.13: TPM_PT_NV_BUFFER_MAX = PT_FIXED + 44. */
    private static final int TPM_PT_NV_BUFFER_MAX = 0x12C;
    private static final System.Logger LOG = System.getLogger(EkManufacturer.class.getName());

    private final boolean lockNvram;

    /**
     * A manufacturer that write-locks the certificate index, like libvirt's {@code --lock-nvram} (TPM 1.2: its
     * bWriteDefine lock, in force once the guest locks NV; see {@link Tpm12EkCertificate}).
     */
    public EkManufacturer() {
        this(true);
    }

    /** A manufacturer that write-locks the certificate index only if {@code lockNvram}. */
    public EkManufacturer(boolean lockNvram) {
        this.lockNvram = lockNvram;
    }

    /**
     * Manufactures a fresh TPM: its EK and its certificate (issued by {@code ca} for {@code uuid}) in
     * {@link #certificateIndex}: {@link #createEk}, then {@link #certify}.
     *
     * @return the EK certificate now stored in the TPM
     * @throws ManufactureException if the TPM already has an EK or EK certificate index (it is refused,
     *         not overwritten), or a command fails (the message names it and the response code)
     */
    public X509Certificate manufacture(TpmEngine engine, String uuid, LocalCa ca) {
        createEk(engine, uuid);
        X509Certificate cert = certify(engine, uuid, ca);
        LOG.log(Level.INFO, "vtpm {0}: manufactured RSA 2048 EK {1}, {2}-byte EK certificate (serial {3}) in NV {4}",
                uuid, engine.family() == TpmFamily.TPM2 ? "at 0x81010001" : "(the TPM 1.2 endorsement key pair)",
                encoded(cert).length, cert.getSerialNumber().toString(16), nvIndexName(engine.family()));
        return cert;
    }

    /** The NV index where a {@code family} TPM keeps its EK certificate, where guests' tools look for it. */
    public static int certificateIndex(TpmFamily family) {
        return family == TpmFamily.TPM2 ? EK_CERT_NV_INDEX : TPM12_EK_CERT_NV_INDEX;
    }

    /** {@link #certificateIndex} as messages name it, e.g. {@code 0x01c00002}. */
    public static String nvIndexName(TpmFamily family) {
        return String.format(Locale.ROOT, "0x%08x", certificateIndex(family));
    }

    /**
     * The slow half of {@link #manufacture}, which needs no identity (a TPM of the pool of ready-made ones). TPM 2.0:
     * CreatePrimary(endorsement, template L-1), EvictControl to {@link #EK_HANDLE}, FlushContext. TPM 1.2:
     * TPM_CreateEndorsementKeyPair (TPM 1.2 Main Part 3 §14.1) for an RSA 2048 EK, as swtpm_setup does for
     * {@code --createek}; a fresh libtpms TPM 1.2 has no EK, and TPM_TakeOwnership needs one.
     *
     * @param what names the TPM in messages (a vTPM uuid or a pool entry)
     * @return the EK's public key
     * @throws ManufactureException if the TPM already has an EK or EK certificate index, or a command fails
     */
    public RSAPublicKey createEk(TpmEngine engine, String what) {
        if (engine.family() == TpmFamily.TPM12) {
            if (Tpm12EkCertificate.defined(engine)) {
                throw new ManufactureException(String.format(Locale.ROOT, "vtpm %s is already (maybe partly) manufactured:"
                        + " NV 0x%08x exists; refusing to overwrite its endorsement", what, TPM12_EK_CERT_NV_INDEX));
            }
            return Tpm12Endorsement.createEndorsementKeyPair(engine); // refuses a TPM that has an EK (TPM_DISABLED_CMD)
        }
        Tpm2Client tpm = new Tpm2Client(engine);
        if (tpm.readPublic(EK_HANDLE).isPresent() || tpm.nvReadPublic(EK_CERT_NV_INDEX).isPresent()) {
            throw new ManufactureException(String.format(Locale.ROOT,
                    "vtpm %s is already (maybe partly) manufactured: 0x%08x or NV 0x%08x exists; refusing to "
                            + "overwrite its endorsement", what, EK_HANDLE, EK_CERT_NV_INDEX));
        }
        int primary = tpm.createPrimary(TPM_RH_ENDORSEMENT, EkTemplate.rsa2048());
        try {
            tpm.evictControl(primary, EK_HANDLE);
        } catch (RuntimeException e) {
            try {
                tpm.flushContext(primary);
            } catch (RuntimeException f) {
                e.addSuppressed(f);
            }
            throw e;
        }
        tpm.flushContext(primary); // the persistent copy does not depend on the transient one
        return persistedEk(tpm);
    }

    /**
     * The fast half of {@link #manufacture}, once the uuid is known (milliseconds): the EK certificate for the EK
     * that {@link #createEk} made, issued by {@code ca} for {@code uuid}, in {@link #certificateIndex}. TPM 2.0:
     * ReadPublic, NV_DefineSpace(platform), NV_Write in chunks, NV_WriteLock. TPM 1.2: TPM_ReadPubek, then
     * {@link Tpm12EkCertificate#store}.
     *
     * @return the EK certificate now stored in the TPM
     * @throws ManufactureException if the TPM has no EK or already an EK certificate index, or a command fails
     */
    public X509Certificate certify(TpmEngine engine, String uuid, LocalCa ca) {
        if (engine.family() == TpmFamily.TPM12) {
            return certifyTpm12(engine, uuid, ca);
        }
        Tpm2Client tpm = new Tpm2Client(engine);
        if (tpm.nvReadPublic(EK_CERT_NV_INDEX).isPresent()) {
            throw new ManufactureException(String.format(Locale.ROOT, "vtpm %s already has an EK certificate index"
                    + " NV 0x%08x; refusing to overwrite it", uuid, EK_CERT_NV_INDEX));
        }
        RSAPublicKey ek = persistedEk(tpm);
        X509Certificate cert = ca.issueEkCertificate(ek, uuid, TpmIdentity.query(tpm));
        byte[] der = encoded(cert);
        tpm.nvDefineSpace(TPM_RH_PLATFORM, EK_CERT_NV_INDEX, NvAttributes.EK_CERT, der.length);
        tpm.nvWrite(TPM_RH_PLATFORM, EK_CERT_NV_INDEX, der, nvChunk(tpm));
        if (lockNvram) {
            tpm.nvWriteLock(TPM_RH_PLATFORM, EK_CERT_NV_INDEX);
        }
        return cert;
    }

    /**
     * A TPM 1.2's certificate: for the EK TPM_ReadPubek gives (a TPM without an owner, as {@link #createEk} leaves it,
     * always gives it), naming the TPM as swtpm's libtpms describes a TPM 1.2 ({@link TpmIdentity#swtpmDefault}).
     */
    private X509Certificate certifyTpm12(TpmEngine engine, String uuid, LocalCa ca) {
        return Tpm12EkCertificate.store(engine, uuid, lockNvram, () -> ca.issueEkCertificate(
                Tpm12Endorsement.readPubek(engine).orElseThrow(() -> new ManufactureException("vtpm " + uuid + ": TPM_ReadPubek"
                        + " is disabled (the TPM has an owner): it is not a TPM that was just manufactured")),
                uuid, TpmFamily.TPM12));
    }

    private static RSAPublicKey persistedEk(Tpm2Client tpm) {
        return EkTemplate.publicKey(tpm.readPublic(EK_HANDLE)
                .orElseThrow(() -> new ManufactureException("no EK at 0x81010001 (EvictControl did not persist it,"
                        + " or this TPM was never given one)")));
    }

    /**
     * Whether the TPM behind {@code engine} is manufactured: an EK and its certificate index. TPM 2.0: an EK at
     * {@link #EK_HANDLE} and a written {@link #EK_CERT_NV_INDEX}; TPM 1.2: an EK ({@link Tpm12Endorsement#hasEk}) and
     * a defined {@link #TPM12_EK_CERT_NV_INDEX}. The TPM must be started.
     */
    public static boolean isManufactured(TpmEngine engine) {
        if (engine.family() == TpmFamily.TPM12) {
            return Tpm12Endorsement.hasEk(engine) && Tpm12EkCertificate.defined(engine);
        }
        Tpm2Client tpm = new Tpm2Client(engine);
        Optional<Tpm2Client.NvPublic> nv = tpm.nvReadPublic(EK_CERT_NV_INDEX);
        return tpm.readPublic(EK_HANDLE).isPresent() && nv.isPresent() && nv.get().written();
    }

    /** The EK certificate's chunk size: TPM_PT_NV_BUFFER_MAX, or 1024 if not reported. */
    static int nvChunk(Tpm2Client tpm) {
        Integer max = tpm.properties(TPM_PT_NV_BUFFER_MAX, 1).get(TPM_PT_NV_BUFFER_MAX);
        return max == null || max <= 0 ? DEFAULT_NV_CHUNK : Math.min(max, TpmEngine.MAX_COMMAND_SIZE - 64);
    }

    private static byte[] encoded(X509Certificate cert) {
        try {
            return cert.getEncoded();
        } catch (CertificateEncodingException e) {
            throw new ManufactureException("cannot DER-encode the EK certificate", e);
        }
    }
}
