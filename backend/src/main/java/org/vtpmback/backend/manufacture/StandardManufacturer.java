package org.vtpmback.backend.manufacture;

import java.nio.file.Path;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.StagedManufacturer;
import org.vtpmback.backend.state.Uuid;

/**
 * What a vTPM gets at its first start: for TPM 2.0 the TCG default RSA EK at 0x81010001 and an EK
 * certificate from the host's local CA in NV index 0x01C00002 (where guests' attestation tools look);
 * for TPM 1.2 an endorsement key pair. The CA is created on first use in {@code caDir}. In stages for the
 * pool of ready-made TPMs: the keys first, the certificate once the uuid is known (its subject names it).
 */
public final class StandardManufacturer implements StagedManufacturer {
    private static final System.Logger LOG = System.getLogger(StandardManufacturer.class.getName());

    private final Path caDir;
    private LocalCa ca;

    public StandardManufacturer(Path caDir) {
        this.caDir = caDir;
    }

    @Override
    public void manufacture(TpmEngine engine, Uuid uuid) {
        if (engine.family() == TpmFamily.TPM12) {
            new EkManufacturer().manufactureTpm12(engine);
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: TPM 1.2 endorsement key created", uuid);
            return;
        }
        var cert = new EkManufacturer().manufacture(engine, uuid.value(), ca());
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: EK created at 0x81010001, certificate serial {1} issued by {2}",
                uuid, cert.getSerialNumber().toString(16), cert.getIssuerX500Principal().getName());
    }

    @Override
    public void makeKeys(TpmEngine engine, String what) {
        if (engine.family() == TpmFamily.TPM12) {
            new EkManufacturer().manufactureTpm12(engine);
        } else {
            new EkManufacturer().createEk(engine, what);
        }
        LOG.log(System.Logger.Level.INFO, "{0}: {1} endorsement key created", what, engine.family());
    }

    /** TPM 2.0: the EK certificate. A TPM 1.2 gets none today (as {@link #manufacture}); it would be issued here. */
    @Override
    public void bind(TpmEngine engine, Uuid uuid) {
        if (bindsIn(engine.family())) {
            var cert = new EkManufacturer().certify(engine, uuid.value(), ca());
            LOG.log(System.Logger.Level.INFO, "vTPM {0}: EK certificate serial {1} issued by {2} for its ready-made EK (0x81010001), in NV 0x01c00002",
                    uuid, cert.getSerialNumber().toString(16), cert.getIssuerX500Principal().getName());
        }
    }

    /** Loads (on a first start of the host, creates) the local CA. */
    @Override
    public void readyBinding() {
        ca();
    }

    @Override
    public boolean bindsIn(TpmFamily family) {
        return family == TpmFamily.TPM2;
    }

    private synchronized LocalCa ca() {
        if (ca == null) {
            ca = LocalCa.loadOrCreate(caDir);
        }
        return ca;
    }
}
