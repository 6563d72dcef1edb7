package org.vtpmback.backend.manufacture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * Reads what we manufactured with the tools a guest would use: a standalone swtpm ({@code --flags
 * not-need-init,startup-clear}, as swtpm_setup runs it) serves the state dir to tpm2-tools 5.x through
 * the swtpm TCTI; openssl checks the chain. Skipped when the tools are not installed.
 */
@Timeout(60)
@EnabledIf("toolsInstalled")
class Tpm2ToolsCrossCheckTest {
    @TempDir
    Path tmp;

    static boolean toolsInstalled() {
        return List.of("swtpm", "tpm2_nvread", "tpm2_readpublic", "openssl").stream()
                .allMatch(t -> Files.isExecutable(Path.of("/usr/bin", t)));
    }

    @Test
    void tpm2ToolsReadTheCertificateAndEk() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(tmp.resolve("ca"));
        X509Certificate cert;
        Path state;
        try (TpmFixture f = new TpmFixture(tmp)) {
            TpmEngine e = f.booted("vm", TpmFamily.TPM2);
            cert = new EkManufacturer().manufacture(e, UUID.randomUUID().toString(), ca);
            state = f.stateDir("vm");
        }
        Path sock = tmp.resolve("tools.sock");
        Process swtpm = new ProcessBuilder("swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state,
                "--server", "type=unixio,path=" + sock, "--ctrl", "type=unixio,path=" + sock + ".ctrl",
                "--flags", "not-need-init,startup-clear").redirectErrorStream(true)
                .redirectOutput(tmp.resolve("swtpm.log").toFile()).start();
        try {
            String tcti = "swtpm:path=" + sock;
            Path byIndex = tmp.resolve("by-index.der");
            Path byOwner = tmp.resolve("by-owner.der");
            Path ekPem = tmp.resolve("ek.pem");
            run(tcti, "tpm2_nvread", "0x1c00002", "-o", byIndex.toString());           // AUTHREAD, empty auth
            run(tcti, "tpm2_nvread", "-C", "o", "0x1c00002", "-o", byOwner.toString()); // OWNERREAD
            run(tcti, "tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", ekPem.toString());
            assertArrayEquals(cert.getEncoded(), Files.readAllBytes(byIndex));
            assertArrayEquals(cert.getEncoded(), Files.readAllBytes(byOwner));
            assertEquals(cert.getPublicKey(), pem(ekPem));

            Path caPem = tmp.resolve("ca").resolve(LocalCa.CERT_FILE);
            Path certPem = tmp.resolve("ek-cert.pem");
            Files.writeString(certPem, PemFiles.encode(cert));
            String verify = run(null, "openssl", "verify", "-CAfile", caPem.toString(), "-purpose", "any",
                    certPem.toString());
            assertTrue(verify.contains(": OK"), verify);
        } finally {
            swtpm.destroy();
            swtpm.waitFor(5, TimeUnit.SECONDS);
        }
    }

    private static PublicKey pem(Path file) throws Exception {
        String b64 = Files.readString(file).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(b64)));
    }

    /** Runs a tool (retrying while swtpm is not yet listening) and returns its output; fails on exit != 0. */
    private static String run(String tcti, String... cmd) throws IOException, InterruptedException {
        String out = "";
        int attempts = tcti == null ? 1 : 50;
        for (int attempt = 0; attempt < attempts; attempt++) {
            ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(List.of(cmd))).redirectErrorStream(true);
            if (tcti != null) {
                pb.environment().put("TPM2TOOLS_TCTI", tcti);
            }
            Process p = pb.start();
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() == 0) {
                return out;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(String.join(" ", cmd) + " failed: " + out);
    }
}
