package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.InstanceException;
import org.vtpmback.backend.instance.Provisioning;
import org.vtpmback.backend.manufacture.EkManufacturer;
import org.vtpmback.backend.manufacture.EkReader;
import org.vtpmback.backend.manufacture.Endorsement;
import org.vtpmback.backend.manufacture.LocalCa;
import org.vtpmback.backend.manufacture.ManufactureException;
import org.vtpmback.backend.manufacture.Pem;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback ek <uuid>} and {@code vtpmback ca}: what an attestation verifier enrolls. The EK is read where
 * manufacture put it, in the vTPM's TPM (a copy of its stored state, started aside: {@link Provisioning#inspect}),
 * so it is what the guest's tools read too; the CA certificate from the CA's folder.
 */
final class EndorsementCommands {
    private EndorsementCommands() {
    }

    static int ek(Invocation inv, VtpmbackConfig config) {
        Uuid uuid;
        try {
            uuid = Uuid.parse(inv.args().get(0));
        } catch (IllegalArgumentException e) {
            return Main.usage(inv, e.getMessage());
        }
        try {
            Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
            Optional<InstanceRecord> record;
            if (PoolStores.pooled(config)) {
                if (key.isEmpty()) {
                    return Main.fail(inv, MasterKeys.initAdvice(config));
                }
                record = PoolRecords.read(config, key.get(), uuid).map(PoolRecords.Pooled::record);
                if (record.isEmpty()) {
                    return Main.fail(inv, PoolRecords.notStored(config, uuid));
                }
            } else {
                Optional<InstanceStore> store = key.isEmpty() ? Optional.empty()
                        : Optional.of(Instances.sharedStore(config, key.get()));
                record = store.isEmpty() ? Optional.empty() : store.get().load(uuid);
                if (record.isEmpty()) {
                    return Main.fail(inv, "no stored vTPM " + uuid + " in " + config.instancesDir() + "; 'vtpmback list'"
                            + " shows the stored ones, 'vtpmback create " + uuid + "' makes it before its guest starts");
                }
            }
            Endorsement ek;
            try (CommandEngines engines = CommandEngines.open(config)) {
                ek = Provisioning.inspect(engines.boot(), record.get(), EkReader::read);
            }
            print(inv, record.get(), ek);
            return Main.OK;
        } catch (CorruptStateException e) {
            return Main.fail(inv, e.getMessage());
        } catch (Dirs.NotPrivate e) {
            return Main.failConfig(inv, e.getMessage());
        } catch (IOException | EngineException | ManufactureException | InstanceException e) {
            return Main.fail(inv, "cannot read the EK of vTPM " + uuid + ": " + e.getMessage());
        }
    }

    private static void print(Invocation inv, InstanceRecord r, Endorsement ek) {
        if (!ek.certificateMatchesKey()) {
            inv.err().println(Main.errorLine(inv.err(), "warning: vTPM " + r.uuid() + ": its EK ("
                    + (r.family() == TpmFamily.TPM2 ? "the key at the EK handle 0x81010001" : "TPM_ReadPubek") + ") is not the one"
                    + " its EK certificate certifies (the guest's owner replaced it); both are printed as read"));
        }
        Optional<X509Certificate> cert = ek.certificate();
        if (inv.has(ListCommand.JSON)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("uuid", r.uuid().value());
            m.put("family", VtpmbackConfig.familyValue(r.family()));
            m.put("generation", r.generation());
            m.put("public_key", ek.publicKeyPem());
            m.put("public_key_sha256", ek.publicKeySha256());
            m.put("certificate", ek.certificatePem().orElse(null));
            m.put("certificate_sha256", ek.certificateSha256().orElse(null));
            m.put("issuer", cert.map(c -> c.getIssuerX500Principal().getName()).orElse(null));
            m.put("serial", cert.map(c -> c.getSerialNumber().toString(16)).orElse(null));
            m.put("not_after", cert.map(c -> DateTimeFormatter.ISO_INSTANT.format(c.getNotAfter().toInstant())).orElse(null));
            inv.out().println(Json.of(m));
        } else {
            inv.out().print(ek.publicKeyPem());
            ek.certificatePem().ifPresent(inv.out()::print);
        }
        if (cert.isEmpty()) {
            inv.err().println("note: vTPM " + r.uuid() + " has no EK certificate in NV " + EkManufacturer.nvIndexName(r.family())
                    + (r.family() == TpmFamily.TPM12 ? " (a TPM 1.2 made before vtpmback issued them)" : "")
                    + ": only its EK public key is printed");
        }
    }

    /**
     * The CA as the daemon has it, made here if the host has none yet: an operator enrolls the host with verifiers
     * before any vTPM exists. The same {@link LocalCa#loadOrCreate} as the daemon's (so the same files and modes), in
     * a state-dir checked (and if need be created) as the daemon's is.
     */
    static int ca(Invocation inv, VtpmbackConfig config) {
        Path dir = Instances.caDir(config);
        LocalCa ca;
        try {
            Dirs.ensurePrivate(config.stateDir(), Dirs.Kind.STATE);
            ca = LocalCa.loadOrCreate(dir);
        } catch (Dirs.NotPrivate e) {
            return Main.failConfig(inv, e.getMessage());
        } catch (IOException | ManufactureException e) {
            return Main.fail(inv, e.getMessage());
        }
        if (ca.created()) {
            inv.err().println("note: this host had no EK CA: created one in " + dir + " (" + LocalCa.KEY_FILE + " 0600, "
                    + LocalCa.CERT_FILE + " 0644); every vTPM's EK certificate will chain to it");
        }
        X509Certificate c = ca.certificate();
        String pem = Pem.of(c);
        if (inv.has(ListCommand.JSON)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("certificate", pem);
            m.put("sha256", Pem.sha256(c));
            m.put("subject", c.getSubjectX500Principal().getName());
            m.put("not_after", DateTimeFormatter.ISO_INSTANT.format(c.getNotAfter().toInstant()));
            m.put("file", dir.resolve(LocalCa.CERT_FILE).toString());
            m.put("created", ca.created());
            inv.out().println(Json.of(m));
        } else {
            inv.out().print(pem);
        }
        return Main.OK;
    }
}
