package org.vtpmback.hotplug.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code list}, {@code delete}, {@code export}, {@code import}: the stored vTPMs ({@link InstanceCommands}). */
final class StoreCommands {
    static final String PASSPHRASE_FILE = "--passphrase-file";
    private static final String PASSPHRASE_HELP = "read the passphrase from the first line of F (else: prompted for"
            + " without echo on a terminal, or the first line of standard input)";

    private StoreCommands() {
    }

    @Command(name = "list", header = "list the stored vTPMs and their state",
            description = {
                "One line per vTPM in state-dir: uuid, TPM family, generation (count of saves), how its last"
                        + " incarnation ended, whether a suspend snapshot is kept, creation time, and the domain using it (as the"
                        + " running daemon says, 'vtpmback status'), or 'in use' if a daemon holds it but does not answer. A file that cannot be opened is listed as UNREADABLE with the"
                        + " reason, and the command ends with 'N records unreadable: ...' and exit status 1. If the"
                        + " master key is missing while records exist, that is one line naming the key's path and exit"
                        + " status 1. With store = etcd the vTPMs are the pool's, read from etcd and opened with this host's"
                        + " copy of the pool's master key, and an OWNER column names the pool host that runs each ('-': none);"
                        + " IN USE HERE is about this host's daemon only.",
                "",
                "With --json, standard output is one JSON object instead, {\"vtpms\": [...]}, one element per stored"
                        + " vTPM: uuid (string), family (\"2.0\" or \"1.2\"), generation (number), last_end (string),"
                        + " snapshot (string, or null if none is kept), created (ISO 8601 UTC), in_use (boolean), domid"
                        + " (number) and domain (its name, string), null unless a running daemon serves it to a domain; an"
                        + " unreadable record has only uuid and error (string). Errors still go to standard error and"
                        + " set the exit status; a host with nothing stored gives {\"vtpms\": []}. With store = etcd each"
                        + " element also has owner (the owning host, string, or null), and a vTPM that is owned but has no"
                        + " record yet has only uuid, owner and error."})
    static final class ListStored extends ConfiguredCommand {
        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of the table")
        boolean json;

        @Override
        public Integer call() {
            return execute(ListCommand::run, List.of(), json ? Map.of(ListCommand.JSON, "") : Map.of());
        }
    }

    @Command(name = "delete", header = "delete a stored vTPM (its keys and NV are gone for good)",
            description = {
                "Deletes the vTPM's sealed state file. Refused while the vTPM is in use (a running daemon has its"
                        + " runtime folder). Requires --yes: the TPM's keys, NV and EK cannot be recovered afterwards"
                        + " (export it first if unsure). The next domain with this uuid gets a newly manufactured TPM."
                        + " With store = etcd it deletes the pool's record, refused while a pool host owns the vTPM; the"
                        + " next domain with this uuid then gets a new TPM on any pool host."})
    static final class Delete extends ConfiguredCommand {
        @Option(names = "--yes", description = "really delete")
        boolean yes;

        @Parameters(paramLabel = "<uuid>", description = "the vTPM's uuid (as in 'vtpmback list')")
        String uuid;

        @Override
        public Integer call() {
            return execute(InstanceCommands::delete, List.of(uuid), yes ? Map.of("--yes", "") : Map.of());
        }
    }

    @Command(name = "export", header = "write a vTPM to a passphrase-protected bundle for another host",
            description = {
                "Writes the stored vTPM (permanent state, and the suspend snapshot if the domain was saved) to"
                        + " <bundle>, sealed with AES-256-GCM under a key derived from a passphrase (PBKDF2-HMAC-SHA256,"
                        + " 600000 iterations, random salt); the uuid is bound to the bundle. The host's master key"
                        + " never leaves the host. A vTPM in use is exported as of its last checkpoint (keys and NV, no"
                        + " PCRs). With store = etcd the record is read from the pool (in use: a pool host owns it)."})
    static final class Export extends ConfiguredCommand {
        @Option(names = PASSPHRASE_FILE, paramLabel = "F", description = PASSPHRASE_HELP)
        String passphraseFile;

        @Parameters(index = "0", paramLabel = "<uuid>", description = "the vTPM's uuid (as in 'vtpmback list')")
        String uuid;

        @Parameters(index = "1", paramLabel = "<bundle>", description = "the file to write; it must not exist")
        String bundle;

        @Override
        public Integer call() {
            return execute(InstanceCommands::export, List.of(uuid, bundle), passphrase(passphraseFile));
        }
    }

    @Command(name = "import", header = "store a vTPM from a bundle written by export",
            description = {
                "Opens <bundle> with the passphrase and stores the vTPM under its uuid, sealed with this host's master"
                        + " key. Refuses to overwrite a stored vTPM unless --replace, and always refuses while that vTPM"
                        + " is in use. A bundle holding a suspend snapshot can then be resumed with 'vtpmback restore'"
                        + " of the domain's save file. It never makes a master key: on a new host run 'vtpmback init'"
                        + " first. A bundle older (by generation) than what this host has committed for the vTPM,"
                        + " including one it deleted, is refused: it would roll the TPM's NV counters and"
                        + " dictionary-attack lockout back. Refused with store = etcd (exit status 78): import with --set"
                        + " store=local, then 'vtpmback pool push <uuid>'."})
    static final class Import extends ConfiguredCommand {
        @Option(names = PASSPHRASE_FILE, paramLabel = "F", description = PASSPHRASE_HELP)
        String passphraseFile;

        @Option(names = "--replace", description = "overwrite the stored vTPM of the same uuid")
        boolean replace;

        @Option(names = "--allow-rollback", description = "store an older bundle anyway (logged as a"
                + " warning)")
        boolean allowRollback;

        @Parameters(paramLabel = "<bundle>", description = "a file written by 'vtpmback export'")
        String bundle;

        @Override
        public Integer call() {
            Map<String, String> options = new LinkedHashMap<>(passphrase(passphraseFile));
            if (replace) {
                options.put("--replace", "");
            }
            if (allowRollback) {
                options.put("--allow-rollback", "");
            }
            return execute(InstanceCommands::importBundle, List.of(bundle), options);
        }
    }

    private static Map<String, String> passphrase(String file) {
        return file == null ? Map.of() : Map.of(PASSPHRASE_FILE, file);
    }
}
