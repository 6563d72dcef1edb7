package org.vtpmback.backend.manufacture;

import java.nio.file.Path;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.StagedManufacturer;
import org.vtpmback.backend.state.Uuid;

/**
 * What a vTPM gets at its first start: an EK and an EK certificate from the host's local CA where guests'
 * attestation tools look ({@link EkManufacturer}): for TPM 2.0 the TCG default RSA EK at 0x81010001 and the
 * certificate in NV index 0x01C00002; for TPM 1.2 its endorsement key pair and the certificate in NV index
 * 0x1000F000. The CA is created on first use in {@code caDir}. In stages for the pool of ready-made TPMs: the keys
 * first, the certificate once the uuid is known (its subject names it), for both families.
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
        var cert = new EkManufacturer().manufacture(engine, uuid.value(), ca());
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: {1} EK created, certificate serial {2} issued by {3}, in NV {4}",
                uuid, engine.family(), cert.getSerialNumber().toString(16), cert.getIssuerX500Principal().getName(),
                EkManufacturer.nvIndexName(engine.family()));
    }

    @Override
    public void makeKeys(TpmEngine engine, String what) {
        new EkManufacturer().createEk(engine, what);
        LOG.log(System.Logger.Level.INFO, "{0}: {1} endorsement key created", what, engine.family());
    }

    /** The EK certificate for the EK {@link #makeKeys} made, naming {@code uuid}. */
    @Override
    public void bind(TpmEngine engine, Uuid uuid) {
        var cert = new EkManufacturer().certify(engine, uuid.value(), ca());
        LOG.log(System.Logger.Level.INFO, "vTPM {0}: EK certificate serial {1} issued by {2} for its ready-made {3} EK, in NV {4}",
                uuid, cert.getSerialNumber().toString(16), cert.getIssuerX500Principal().getName(), engine.family(),
                EkManufacturer.nvIndexName(engine.family()));
    }

    /** Loads (on a first start of the host, creates) the local CA. */
    @Override
    public void readyBinding() {
        ca();
    }

    /** Both families: a ready-made TPM gets its EK certificate, which names the uuid, when it is bound. */
    @Override
    public boolean bindsIn(TpmFamily family) {
        return true;
    }

    private synchronized LocalCa ca() {
        if (ca == null) {
            ca = LocalCa.loadOrCreate(caDir);
        }
        return ca;
    }
}
