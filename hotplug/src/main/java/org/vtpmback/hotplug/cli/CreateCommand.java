package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.vtpmback.backend.engine.EngineException;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.InstanceException;
import org.vtpmback.backend.instance.Provisioning;
import org.vtpmback.backend.manufacture.EkReader;
import org.vtpmback.backend.manufacture.Endorsement;
import org.vtpmback.backend.manufacture.ManufactureException;
import org.vtpmback.backend.state.AlreadyStoredException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.config.ConfigLoader;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback create [--family F] [<uuid>]}: a vTPM manufactured and stored before its guest exists
 * ({@link Provisioning}). Like {@code import}, it works next to a running daemon, and refuses a uuid the daemon
 * is using or starting now; the store refuses one stored meanwhile by anyone.
 */
final class CreateCommand {
    private CreateCommand() {
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        Uuid uuid;
        Optional<TpmFamily> asked;
        try {
            uuid = Uuid.parse(inv.args().isEmpty() ? UUID.randomUUID().toString() : inv.args().get(0));
            asked = Optional.ofNullable(inv.options().get(ProvisionCommands.FAMILY)).map(CreateCommand::family);
        } catch (IllegalArgumentException e) {
            return Main.usage(inv, e.getMessage());
        }
        if (PoolStores.pooled(config)) {
            return PoolRecords.refuse(inv, config, PoolRecords.throughLocal("create", uuid.value()));
        }
        Optional<TpmFamily> configured = Optional.ofNullable(config.tpmFamilies().get(uuid.value()));
        if (asked.isPresent() && configured.isPresent() && asked.get() != configured.get()) {
            return Main.fail(inv, "--family " + VtpmbackConfig.familyValue(asked.get()) + " contradicts the configuration's "
                    + ConfigLoader.TPM_FAMILY_PREFIX + uuid + " = " + VtpmbackConfig.familyValue(configured.get())
                    + (config.source().map(f -> " (" + f + ")").orElse("")) + ": a vTPM's family is fixed when it is made and"
                    + " stored with it; remove that line, or give --family " + VtpmbackConfig.familyValue(configured.get())
                    + "; nothing was created");
        }
        TpmFamily family = asked.orElse(config.familyOf(uuid));
        Optional<String> busy = busy(config, uuid);
        if (busy.isPresent()) {
            return Main.fail(inv, busy.get() + "; nothing was created");
        }
        try {
            Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
            if (key.isEmpty()) {
                return Main.fail(inv, MasterKeys.initAdvice(config) + "; nothing was created");
            }
            InstanceStore store = Instances.sharedStore(config, key.get());
            if (Files.exists(store.fileOf(uuid))) {
                return Main.fail(inv, alreadyStored(uuid, store.fileOf(uuid)));
            }
            try (CommandEngines engines = CommandEngines.open(config)) {
                Provisioning provisioning = new Provisioning(store, engines.boot(), Instances.manufacturer(config));
                Provisioning.Created<Endorsement> made = provisioning.create(uuid, family, EkReader::read);
                print(inv, config, made.record(), store.fileOf(uuid), made.inspected());
                return Main.OK;
            }
        } catch (AlreadyStoredException e) {
            return Main.fail(inv, alreadyStored(uuid, e.file()));
        } catch (Dirs.NotPrivate e) {
            return Main.failConfig(inv, e.getMessage() + "; nothing was created");
        } catch (IOException | EngineException | ManufactureException | InstanceException e) {
            return Main.fail(inv, "cannot create vTPM " + uuid + ": " + e.getMessage() + "; nothing was stored");
        }
    }

    /** {@code --family}: 2.0 or 1.2, as in the configuration; anything else is a usage error. */
    private static TpmFamily family(String value) {
        try {
            return ConfigLoader.family(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad value for " + ProvisionCommands.FAMILY + ": " + e.getMessage(), e);
        }
    }

    /** Why the daemon's copy of {@code uuid} is in the way: in use by a guest, or being made for one now. */
    private static Optional<String> busy(VtpmbackConfig config, Uuid uuid) {
        Optional<Path> inUse = InstanceCommands.inUse(config, uuid);
        if (inUse.isPresent()) {
            return Optional.of("vTPM " + uuid + " is in use by the daemon (" + inUse.get() + " exists): it exists already");
        }
        Path making = Instances.runtimeInstancesDir(config).resolve(uuid.value() + ".new");
        if (Files.exists(making)) {
            return Optional.of("the daemon is manufacturing vTPM " + uuid + " for a guest's first start now (" + making
                    + " exists)");
        }
        return Optional.empty();
    }

    private static String alreadyStored(Uuid uuid, Path file) {
        return "vTPM " + uuid + " is already stored (" + file + "); 'vtpmback ek " + uuid + "' prints its EK. To give this"
                + " uuid a new TPM, delete the stored one first ('vtpmback delete --yes " + uuid + "': its keys, NV and EK are"
                + " then gone for good); nothing was created";
    }

    private static void print(Invocation inv, VtpmbackConfig config, InstanceRecord r, Path file, Endorsement ek) {
        String family = VtpmbackConfig.familyValue(r.family());
        String xl = "backend=" + config.backendDomid() + ",uuid=" + r.uuid();
        if (inv.has(ListCommand.JSON)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("uuid", r.uuid().value());
            m.put("family", family);
            m.put("generation", r.generation());
            m.put("file", file.toString());
            m.put("xl_vtpm", xl);
            m.put("ek_certificate_sha256", ek.certificateSha256().orElse(null));
            m.put("ek_public_key_sha256", ek.publicKeySha256());
            inv.out().println(Json.of(m));
            return;
        }
        inv.out().println("created vTPM " + r.uuid() + " (TPM " + family + "), stored in " + file);
        inv.out().println("  xl domain configuration:  vtpm=[\"" + xl + "\"]");
        inv.out().println("  EK certificate SHA-256:   " + ek.certificateSha256()
                .orElse("none (the new TPM holds no EK certificate)"));
        inv.out().println("  EK public key SHA-256:    " + ek.publicKeySha256());
    }
}
