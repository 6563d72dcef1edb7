package org.vtpmback.hotplug.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code create}, {@code ek}, {@code ca}: vTPMs made before their guests, and what verifiers need of them. */
final class ProvisionCommands {
    static final String FAMILY = "--family";

    private ProvisionCommands() {
    }

    /** The values of {@code --family}, for the completion. */
    static final class Families extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        Families() {
            super(List.of("2.0", "1.2"));
        }
    }

    @Command(name = "create", header = "manufacture and store a vTPM before its guest exists",
            description = {
                "Manufactures a vTPM exactly as the daemon does at a uuid's first start (the EK and its certificate"
                        + " from the local CA, in NV index 0x01c00002 for TPM 2.0, 0x1000f000 for TPM 1.2) and stores it"
                        + " sealed in state-dir, so"
                        + " that its guest's first boot only boots it and never waits for key generation. Without"
                        + " <uuid> a random one is made. Prints the uuid, the line for the domain's xl configuration"
                        + " (vtpm=[\"backend=0,uuid=...\"]), the SHA-256 fingerprint of the EK certificate (as 'openssl"
                        + " x509 -noout -fingerprint -sha256' prints it) and of the EK public key.",
                "",
                "The family is stored with the vTPM and is the one the daemon uses for it from then on: neither"
                        + " default-tpm-family nor tpm-family.<uuid> applies to a stored vTPM, so no daemon configuration"
                        + " change or restart is needed. Without --family the vTPM gets the family the daemon would give"
                        + " it (tpm-family.<uuid>, else default-tpm-family); a --family that contradicts a tpm-family.<uuid>"
                        + " line is refused. Works while the daemon runs. Refuses, with exit status 1, a uuid that is"
                        + " already stored (see 'vtpmback ek' and 'vtpmback delete') or that the daemon is starting now. It"
                        + " never makes a master key: on a new host run 'vtpmback init' first. Refused with store = etcd (exit"
                        + " status 78): create with --set store=local, then 'vtpmback pool push <uuid>'.",
                "",
                "With --json, standard output is one JSON object instead: uuid, family (\"2.0\" or \"1.2\"),"
                        + " generation (number), file (string), xl_vtpm (string: the vtpm=[...] value),"
                        + " ek_certificate_sha256 (string),"
                        + " ek_public_key_sha256 (string)."})
    static final class Create extends ConfiguredCommand {
        @Option(names = FAMILY, paramLabel = "2.0|1.2", completionCandidates = Families.class,
                description = "the TPM family (default: as the daemon would choose it for this uuid)")
        String family;

        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of text")
        boolean json;

        @Parameters(arity = "0..1", paramLabel = "<uuid>", description = "the vTPM's uuid (default: a new random one)")
        String uuid;

        @Override
        public Integer call() {
            Map<String, String> options = new LinkedHashMap<>();
            if (family != null) {
                options.put(FAMILY, family);
            }
            if (json) {
                options.put(ListCommand.JSON, "");
            }
            return execute(CreateCommand::run, uuid == null ? List.of() : List.of(uuid), options);
        }
    }

    @Command(name = "ek", header = "print a stored vTPM's endorsement key and EK certificate (PEM)",
            description = {
                "Prints the EK public key (PEM 'PUBLIC KEY') and then the EK certificate (PEM 'CERTIFICATE') of a"
                        + " stored vTPM, as its TPM holds them: read from a copy of its stored state started aside"
                        + " (never from the running guest's TPM, which is not touched; a vTPM in use is read as of its"
                        + " last checkpoint; with store = etcd, the pool's record). For attestation enrollment, e.g. before the guest's first boot; the"
                        + " certificate verifies against 'vtpmback ca'. It is read where the guest's tools read it: NV"
                        + " index 0x01c00002 of a TPM 2.0, 0x1000f000 of a TPM 1.2 (TCG stored-certificate header, then"
                        + " the DER). A vTPM without a certificate (a TPM 1.2 made before vtpmback issued them) gets only"
                        + " its key printed, with a note on standard error; if its guest has also taken ownership, its"
                        + " TPM 1.2 EK can be read only with the owner secret, and the command fails saying so.",
                "",
                "With --json, standard output is one JSON object instead: uuid, family, generation (of the stored"
                        + " state read), public_key (PEM), public_key_sha256, certificate (PEM, or null), certificate_sha256,"
                        + " issuer, serial (hex), not_after (ISO 8601 UTC): the last four null without a certificate."})
    static final class Ek extends ConfiguredCommand {
        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of PEM")
        boolean json;

        @Parameters(paramLabel = "<uuid>", description = "the vTPM's uuid (as in 'vtpmback list')")
        String uuid;

        @Override
        public Integer call() {
            return execute(EndorsementCommands::ek, List.of(uuid), json ? Map.of(ListCommand.JSON, "") : Map.of());
        }
    }

    @Command(name = "ca", header = "print the local CA certificate that issues the vTPMs' EK certificates (PEM)",
            description = {
                "Prints the host's local EK CA certificate (state-dir/ca/ek-ca.crt), the root every EK certificate"
                        + " of this host's vTPMs chains to: give it to attestation verifiers. If the host has no CA yet"
                        + " (no vTPM was made), the command makes it as the daemon would at the first vTPM (state-dir/ca"
                        + " 0700, ek-ca.key 0600, ek-ca.crt 0644) and says so on standard error, so a host can be"
                        + " enrolled before any guest exists. A damaged CA (one file missing, a key that does not match)"
                        + " is never replaced: the command fails naming the file.",
                "",
                "With --json, standard output is one JSON object instead: certificate (PEM), sha256, subject,"
                        + " not_after (ISO 8601 UTC), file, created (true if this command made the CA)."})
    static final class Ca extends ConfiguredCommand {
        @Option(names = ListCommand.JSON, description = "print one JSON object (fields above) instead of PEM")
        boolean json;

        @Override
        public Integer call() {
            return execute(EndorsementCommands::ca, List.of(), json ? Map.of(ListCommand.JSON, "") : Map.of());
        }
    }
}
