package org.vtpmback.hotplug.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import org.vtpmback.backend.state.AtomicFiles;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceBundle;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.SealedDataException;
import org.vtpmback.backend.state.StaleGenerationException;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/** {@code vtpmback list | delete | export | import}: the stored vTPMs, while the daemon may be running. */
final class InstanceCommands {
    private static final String PASSPHRASE_FILE = "--passphrase-file";

    private InstanceCommands() {
    }

    /**
     * The store for a second process, or empty if this host has no master key and nothing is stored.
     *
     * @throws MasterKey.Missing if sealed records exist without their key (a new one is never made here)
     */
    private static Optional<InstanceStore> existingStore(VtpmbackConfig config) throws IOException {
        Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
        return key.isEmpty() ? Optional.empty() : Optional.of(Instances.sharedStore(config, key.get()));
    }

    /** A running daemon keeps swtpm's working folder of a vTPM in use under the runtime directory. */
    static Optional<Path> inUse(VtpmbackConfig config, Uuid uuid) {
        Path dir = Instances.runtimeInstancesDir(config).resolve(uuid.value());
        return Files.exists(dir) ? Optional.of(dir) : Optional.empty();
    }

    private static String inUseMessage(Uuid uuid, Path dir) {
        return "vTPM " + uuid + " is in use by the daemon (" + dir + " exists); stop its domain first. If no daemon runs,"
                + " the folder is left over from a crash: remove it";
    }

    static int delete(Invocation inv, VtpmbackConfig config) {
        Uuid uuid;
        try {
            uuid = Uuid.parse(inv.args().get(0));
        } catch (IllegalArgumentException e) {
            return Main.usage(inv, e.getMessage()); // the help's "2: usage error"
        }
        if (!inv.has("--yes")) {
            return Main.fail(inv, "deleting vTPM " + uuid + " destroys its keys, NV and EK for good; add --yes"
                    + " (export it first if unsure)");
        }
        Optional<Path> busy = inUse(config, uuid);
        if (busy.isPresent()) {
            return Main.fail(inv, inUseMessage(uuid, busy.get()) + "; nothing was deleted");
        }
        try {
            Optional<InstanceStore> store = existingStore(config);
            if (store.isEmpty() || !store.get().delete(uuid)) {
                return Main.fail(inv, "no stored vTPM " + uuid);
            }
            inv.out().println("deleted vTPM " + uuid);
            return Main.OK;
        } catch (IOException e) {
            return Main.fail(inv, "cannot delete vTPM " + uuid + ": " + e.getMessage());
        }
    }

    static int export(Invocation inv, VtpmbackConfig config) {
        Uuid uuid;
        try {
            uuid = Uuid.parse(inv.args().get(0));
        } catch (IllegalArgumentException e) {
            return Main.usage(inv, e.getMessage()); // the help's "2: usage error"
        }
        Path bundle = Path.of(inv.args().get(1));
        if (Files.exists(bundle)) {
            return Main.fail(inv, bundle + " exists; refusing to overwrite it");
        }
        char[] passphrase = null;
        try {
            Optional<InstanceStore> store = existingStore(config);
            Optional<InstanceRecord> record = store.isEmpty() ? Optional.empty() : store.get().load(uuid);
            if (record.isEmpty()) {
                return Main.fail(inv, "no stored vTPM " + uuid);
            }
            passphrase = passphrase(inv);
            byte[] data = InstanceBundle.export(record.get(), passphrase);
            AtomicFiles.write(bundle.toAbsolutePath(), data, AtomicFiles.OWNER_ONLY);
            InstanceRecord r = record.get();
            inv.out().println("exported vTPM " + uuid + " (" + VtpmbackConfig.familyValue(r.family()) + ", generation "
                    + r.generation() + ", last end " + r.lastEnd() + r.snapshot().map(s -> ", with its " + s.reason() + " snapshot")
                    .orElse(", no snapshot") + ") to " + bundle);
            if (inUse(config, uuid).isPresent()) {
                inv.out().println("note: the vTPM is in use; the bundle holds its last checkpoint (keys and NV, no PCRs)");
            }
            return Main.OK;
        } catch (CorruptStateException e) {
            return Main.fail(inv, e.getMessage());
        } catch (IOException | IllegalArgumentException e) {
            return Main.fail(inv, "cannot export vTPM " + uuid + ": " + e.getMessage());
        } finally {
            if (passphrase != null) {
                Arrays.fill(passphrase, '\0');
            }
        }
    }

    static int importBundle(Invocation inv, VtpmbackConfig config) {
        Path bundle = Path.of(inv.args().get(0));
        char[] passphrase = null;
        try {
            byte[] data = Files.readAllBytes(bundle);
            Uuid uuid = InstanceBundle.uuidOf(data);
            Optional<Path> busy = inUse(config, uuid);
            if (busy.isPresent()) {
                return Main.fail(inv, inUseMessage(uuid, busy.get()) + "; nothing was imported");
            }
            Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
            if (key.isEmpty()) {
                return Main.fail(inv, MasterKeys.initAdvice(config) + "; nothing was imported");
            }
            InstanceStore store = Instances.sharedStore(config, key.get());
            if (Files.exists(store.fileOf(uuid)) && !inv.has("--replace")) {
                return Main.fail(inv, "vTPM " + uuid + " is already stored (" + store.fileOf(uuid) + "); add --replace to"
                        + " overwrite it (its current keys and NV are then lost)");
            }
            passphrase = passphrase(inv);
            InstanceRecord record = store.importRecord(InstanceBundle.open(data, passphrase), inv.has("--allow-rollback"));
            inv.out().println("imported vTPM " + uuid + " (" + VtpmbackConfig.familyValue(record.family()) + ", generation "
                    + record.generation() + ", last end " + record.lastEnd() + record.snapshot()
                    .map(s -> ", with its " + s.reason() + " snapshot: restore the domain with 'vtpmback restore'")
                    .orElse(", no snapshot") + ") into " + store.fileOf(uuid));
            return Main.OK;
        } catch (SealedDataException e) {
            return Main.fail(inv, bundle + ": " + e.getMessage() + "; nothing was imported");
        } catch (StaleGenerationException e) {
            return Main.fail(inv, bundle + ": " + e.getMessage() + "; nothing was imported");
        } catch (IOException | IllegalArgumentException e) {
            return Main.fail(inv, "cannot import " + bundle + ": " + e.getMessage());
        } finally {
            if (passphrase != null) {
                Arrays.fill(passphrase, '\0');
            }
        }
    }

    /** The first line of {@code --passphrase-file F}, or of stdin. */
    private static char[] passphrase(Invocation inv) throws IOException {
        Optional<String> file = Optional.ofNullable(inv.options().get(PASSPHRASE_FILE));
        String line;
        if (file.isPresent()) {
            try (BufferedReader r = Files.newBufferedReader(Path.of(file.get()), StandardCharsets.UTF_8)) {
                line = r.readLine();
            }
        } else {
            line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        }
        if (line == null || line.isEmpty()) {
            throw new IOException("empty passphrase (" + file.map(f -> "first line of " + f).orElse("stdin") + ")");
        }
        return line.toCharArray();
    }
}
