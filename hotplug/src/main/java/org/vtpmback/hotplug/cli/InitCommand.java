package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.PrivatePaths;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback init}: the explicit step that makes a host's master key. Creates state-dir (0700) if
 * missing, checks state-dir and runtime-dir as the daemon does, then makes the key. Refuses if a key is
 * already there, and if sealed records exist without one (a new key would open none of them).
 */
final class InitCommand {
    private InitCommand() {
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        Path state = config.stateDir();
        boolean stateExisted = PrivatePaths.exists(state);
        try {
            Dirs.ensurePrivate(state, Dirs.Kind.STATE);
        } catch (Dirs.NotPrivate e) {
            return Main.failConfig(inv, e.getMessage());
        } catch (IOException e) {
            return Main.fail(inv, e.getMessage());
        }
        inv.out().println("state-dir " + state + ": " + (stateExisted ? "exists, private" : "created, mode 0700"));
        String runtimeProblem = Dirs.problem(config.runtimeDir(), Dirs.Kind.RUNTIME);
        if (runtimeProblem != null) {
            return Main.fail(inv, runtimeProblem + "; no master key was made");
        }
        inv.out().println("runtime-dir " + config.runtimeDir() + ": usable (the daemon creates it if missing)");
        Dirs.notInRam(config.runtimeDir()).ifPresent(w -> inv.out().println("warning: " + w));
        Path key = config.masterKey();
        if (PrivatePaths.exists(key)) {
            return Main.fail(inv, "master key " + key + " already exists; init changes nothing (back it up if not done yet)");
        }
        try {
            int records = MasterKey.sealedFiles(config.instancesDir());
            if (records > 0) {
                return Main.fail(inv, MasterKey.missingMessage(key, config.instancesDir(), records) + "; to give them up"
                        + " and start afresh, move " + config.instancesDir() + " away first");
            }
            MasterKey.create(key);
        } catch (IOException e) {
            return Main.fail(inv, "cannot create master key " + key + ": " + e.getMessage());
        }
        inv.out().println("created master key " + key + " (" + MasterKey.LENGTH + " random bytes, mode 0600)");
        inv.out().println(Character.toUpperCase(MasterKey.BACKUP_ADVICE.charAt(0)) + MasterKey.BACKUP_ADVICE.substring(1) + ".");
        inv.out().println("To seal it to this host's TPM instead of keeping it on disk: systemd-creds encrypt --with-key=tpm2"
                + " --name=vtpmback-master-key " + key + " /etc/credstore.encrypted/vtpmback-master-key, set"
                + " master-key-credential = vtpmback-master-key, add LoadCredentialEncrypted= to the unit (see the"
                + " distribution's README.md), then remove the plain file.");
        config.masterKeyCredential().ifPresent(name -> inv.out().println("note: master-key-credential = " + name
                + " is set: the daemon reads $CREDENTIALS_DIRECTORY/" + name + ", not " + key));
        return Main.OK;
    }
}
