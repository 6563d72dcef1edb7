package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.PrivatePaths;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * Where the daemon and the commands get the master key, and the rule that none is made while sealed
 * records exist: the daemon makes one only on its first start (no record at all), {@code vtpmback init}
 * makes one explicitly, every other command only reads it.
 *
 * <p>With {@code master-key-credential = NAME} the key is {@code $CREDENTIALS_DIRECTORY/NAME}, the file
 * systemd decrypts there for the service ({@code LoadCredentialEncrypted=}); it is never made there.
 */
final class MasterKeys {
    static final String CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY";

    private MasterKeys() {
    }

    /** The key file the configuration names; fails if a credential is configured but none was passed. */
    static Path location(VtpmbackConfig config, Map<String, String> env) throws IOException {
        if (config.masterKeyCredential().isEmpty()) {
            return config.masterKey();
        }
        String name = config.masterKeyCredential().get();
        String dir = env.get(CREDENTIALS_DIRECTORY);
        if (dir == null || dir.isEmpty()) {
            throw new MasterKey.Missing("master-key-credential = " + name + " but $" + CREDENTIALS_DIRECTORY + " is not set:"
                    + " run vtpmback under systemd with LoadCredentialEncrypted=" + name + ":<encrypted file> (see"
                    + " packaging/README.md), or unset master-key-credential to use " + config.masterKey());
        }
        return Path.of(dir).resolve(name);
    }

    /** The daemon's key: loaded, or made now if this is the first start (no sealed record, no credential). */
    static MasterKey forDaemon(VtpmbackConfig config, Map<String, String> env) throws IOException {
        Path path = location(config, env);
        if (config.masterKeyCredential().isPresent()) {
            if (!PrivatePaths.exists(path)) {
                throw new MasterKey.Missing("master key credential " + path + " does not exist: check"
                        + " LoadCredentialEncrypted=" + config.masterKeyCredential().get() + ":... in the unit; a key is"
                        + " never made in place of a credential");
            }
            return MasterKey.load(path);
        }
        if (config.store().kind() == org.vtpmback.hotplug.config.StoreSettings.Kind.ETCD && !PrivatePaths.exists(path)) {
            // a key made here would seal nothing the pool's other hosts can open, nor open their records
            throw new MasterKey.Missing("store = etcd and no master key at " + path + ": every host of a pool uses the"
                    + " pool's one key, never one of its own. Copy it from a host of the pool (owner root, mode 0600), or"
                    + " for the pool's first host run 'vtpmback init' first; it is never sent through etcd");
        }
        return MasterKey.loadOrCreate(path, config.instancesDir());
    }

    /**
     * A command's key, or empty if there is none and nothing was ever sealed (a host before its first
     * start). Refuses, naming the path, if sealed records exist without their key.
     */
    static Optional<MasterKey> forCommand(VtpmbackConfig config, Map<String, String> env) throws IOException {
        Path path = location(config, env);
        if (!PrivatePaths.exists(path)) {
            int records = MasterKey.sealedFiles(config.instancesDir());
            if (records > 0) {
                throw new MasterKey.Missing(MasterKey.missingMessage(path, config.instancesDir(), records));
            }
            return Optional.empty();
        }
        return Optional.of(MasterKey.load(path));
    }

    /** What to do on a host that has no key yet. */
    static String initAdvice(VtpmbackConfig config) {
        return "no master key at " + config.masterKey() + " and no vTPM stored yet: run 'vtpmback init' first (it makes"
                + " the key and says how to back it up)";
    }
}
