package org.vtpmback.backend.manufacture;

import java.nio.file.Path;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.Manufacturer;
import org.vtpmback.backend.state.Uuid;

/**
 * What a vTPM gets at its first start: for TPM 2.0 the TCG default RSA EK at 0x81010001 and an EK
 * certificate from the host's local CA in NV index 0x01C00002 (where guests' attestation tools look);
 * for TPM 1.2 an endorsement key pair. The CA is created on first use in {@code caDir}.
 */
public final class StandardManufacturer implements Manufacturer {
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

    private synchronized LocalCa ca() {
        if (ca == null) {
            ca = LocalCa.loadOrCreate(caDir);
        }
        return ca;
    }
}
