package org.vtpmback.hotplug.cli;

import java.io.IOException;
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
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/** {@code vtpmback list | delete | export | import}: the stored vTPMs, while the daemon may be running. */
final class InstanceCommands {
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
            return Main.fail(inv, "refusing to delete vTPM " + uuid + " without --yes: its keys, NV and EK would be gone"
                    + " for good; check the uuid with 'vtpmback list', export it first if unsure, then add --yes");
        }
        if (PoolStores.pooled(config)) {
            return deleteInPool(inv, config, uuid);
        }
        Optional<Path> busy = inUse(config, uuid);
        if (busy.isPresent()) {
            return Main.fail(inv, inUseMessage(uuid, busy.get()) + "; nothing was deleted");
        }
        try {
            Optional<InstanceStore> store = existingStore(config);
            if (store.isEmpty() || !store.get().delete(uuid)) {
                return Main.fail(inv, notStored(config, uuid, store.isPresent()) + "; nothing was deleted");
            }
            inv.out().println("deleted vTPM " + uuid);
            return Main.OK;
        } catch (IOException e) {
            return Main.fail(inv, "cannot delete vTPM " + uuid + ": " + e.getMessage());
        }
    }

    /**
     * {@code delete} with store = etcd: the pool's record, in one txn that compares it unowned and at the revision read,
     * so a host that starts the vTPM meanwhile makes the delete fail, never the host's own commit.
     */
    private static int deleteInPool(Invocation inv, VtpmbackConfig config, Uuid uuid) {
        try {
            PoolAdmin pool = PoolStores.admin(config);
            PoolAdmin.Entry entry = pool.entry(uuid);
            if (entry.owner().isPresent()) {
                return Main.fail(inv, "vTPM " + uuid + " is owned by pool host " + entry.owner().get() + " (it runs it, or"
                        + " its lease has not ended yet): stop its domain there first; nothing was deleted");
            }
            if (entry.record().isEmpty()) {
                return Main.fail(inv, PoolRecords.notStored(config, uuid) + "; nothing was deleted");
            }
            long revision = entry.record().get().modRevision();
            if (!pool.deleteIfUnowned(uuid, revision)) {
                return Main.fail(inv, "vTPM " + uuid + " changed in the pool while it was being deleted (a host started"
                        + " it, or committed it); nothing was deleted: check 'vtpmback list' and run delete again");
            }
            inv.out().println("deleted vTPM " + uuid + " from the pool (its etcd record at revision " + revision + ")");
            inv.out().println("note: a guest started with this uuid from now on gets a new vTPM (new EK), on any host");
            return Main.OK;
        } catch (IOException e) {
            return Main.fail(inv, "cannot delete vTPM " + uuid + " from the pool: " + e.getMessage() + "; nothing was deleted");
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
            return Main.fail(inv, bundle + " exists; refusing to overwrite it: give a new file name, or move it away");
        }
        Optional<String> unwritable = unwritable(bundle);
        if (unwritable.isPresent()) {
            return Main.fail(inv, "cannot write bundle " + bundle + ": " + unwritable.get() + "; nothing was exported");
        }
        char[] passphrase = null;
        try {
            Optional<InstanceRecord> record;
            boolean inUse;
            if (PoolStores.pooled(config)) {
                Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
                if (key.isEmpty()) {
                    return Main.fail(inv, MasterKeys.initAdvice(config) + "; nothing was exported");
                }
                Optional<PoolRecords.Pooled> pooled = PoolRecords.read(config, key.get(), uuid);
                if (pooled.isEmpty()) {
                    return Main.fail(inv, PoolRecords.notStored(config, uuid) + "; nothing was exported");
                }
                record = Optional.of(pooled.get().record());
                inUse = pooled.get().entry().owner().isPresent();
            } else {
                Optional<InstanceStore> store = existingStore(config);
                record = store.isEmpty() ? Optional.empty() : store.get().load(uuid);
                if (record.isEmpty()) {
                    return Main.fail(inv, notStored(config, uuid, store.isPresent()) + "; nothing was exported");
                }
                inUse = inUse(config, uuid).isPresent();
            }
            passphrase = passphrase(inv, true);
            byte[] data = InstanceBundle.export(record.get(), passphrase);
            try {
                AtomicFiles.write(bundle.toAbsolutePath(), data, AtomicFiles.OWNER_ONLY);
            } catch (IOException e) {
                return Main.fail(inv, "cannot write bundle " + bundle + ": " + IoErrors.reason(e) + "; nothing was exported"
                        + " (check the folder's file system and free space, or give another path)");
            }
            InstanceRecord r = record.get();
            inv.out().println("exported vTPM " + uuid + " (" + VtpmbackConfig.familyValue(r.family()) + ", generation "
                    + r.generation() + ", last end " + r.lastEnd() + r.snapshot().map(s -> ", with its " + s.reason() + " snapshot")
                    .orElse(", no snapshot") + ") to " + bundle);
            if (inUse) {
                inv.out().println("note: the vTPM is in use; the bundle holds its last checkpoint (keys and NV, no PCRs)");
            }
            return Main.OK;
        } catch (CorruptStateException e) {
            return Main.fail(inv, e.getMessage());
        } catch (Passphrases.Unavailable e) {
            return Main.fail(inv, e.getMessage() + "; nothing was exported");
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
        if (PoolStores.pooled(config)) {
            return PoolRecords.refuse(inv, config, PoolRecords.throughLocal("import " + bundle, "<uuid>"));
        }
        char[] passphrase = null;
        try {
            byte[] data;
            try {
                data = Files.readAllBytes(bundle);
            } catch (IOException e) {
                return Main.fail(inv, "cannot read bundle " + bundle + ": " + IoErrors.reason(e) + "; nothing was imported");
            }
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
            passphrase = passphrase(inv, false);
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
        } catch (Passphrases.Unavailable e) {
            return Main.fail(inv, e.getMessage() + "; nothing was imported");
        } catch (IOException | IllegalArgumentException e) {
            return Main.fail(inv, "cannot import " + bundle + ": " + e.getMessage());
        } finally {
            if (passphrase != null) {
                Arrays.fill(passphrase, '\0');
            }
        }
    }

    /** {@code --passphrase-file F}, the terminal's prompt, or standard input ({@link Passphrases}). */
    private static char[] passphrase(Invocation inv, boolean confirm) throws Passphrases.Unavailable {
        return Passphrases.read(Optional.ofNullable(inv.options().get(StoreCommands.PASSPHRASE_FILE)).map(Path::of),
                Passphrases.console(), System.in, confirm);
    }

    /** Why the store has no {@code uuid}, and where to look. */
    private static String notStored(VtpmbackConfig config, Uuid uuid, boolean storeExists) {
        return "no stored vTPM " + uuid + (storeExists ? " in " + config.instancesDir()
                : " (this host has no master key at " + config.masterKey() + " and stores no vTPM)")
                + "; 'vtpmback list' shows the stored ones (check --config and state-dir if it should be there)";
    }

    /**
     * Why {@code bundle} cannot be written, checked before the vTPM is sealed into it: the folder must exist and be
     * writable. Empty if it looks writable (the write itself may still fail, see {@link IoErrors}).
     */
    private static Optional<String> unwritable(Path bundle) {
        Path dir = bundle.toAbsolutePath().getParent();
        if (!Files.exists(dir)) {
            return Optional.of("folder " + dir + " does not exist (ENOENT); create it or give another path");
        }
        if (!Files.isDirectory(dir)) {
            return Optional.of(dir + " is not a folder (ENOTDIR); give another path");
        }
        if (!Files.isWritable(dir)) {
            return Optional.of("folder " + dir + " is not writable by this user (EACCES); give another path");
        }
        return Optional.empty();
    }
}
