package org.vtpmback.hotplug.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;

class ConfigLoaderTest {
    private static final String UUID = "9f8c3a1e-5b2d-4c6f-8e0a-1b2c3d4e5f60";
    private static final Path FILE = Path.of("/etc/vtpmback/test.conf");

    @TempDir
    Path tmp;

    private static VtpmbackConfig parse(String text, String... overrides) {
        return ConfigLoader.parse(Optional.of(Map.entry(FILE, text)), List.of(overrides));
    }

    private static ConfigException failure(String text, String... overrides) {
        return assertThrows(ConfigException.class, () -> parse(text, overrides));
    }

    @Test
    void emptyFileGivesTheDefaults() {
        VtpmbackConfig c = parse("# nothing here\n\n! nor here\n");
        VtpmbackConfig d = VtpmbackConfig.defaults();
        assertEquals(Optional.of(FILE), c.source());
        assertEquals(0, c.backendDomid());
        assertEquals(Path.of("/var/lib/vtpmback"), c.stateDir());
        assertEquals(Path.of("/run/vtpmback"), c.runtimeDir());
        assertEquals("swtpm", c.swtpm());
        assertEquals(TpmFamily.TPM2, c.defaultTpmFamily());
        assertEquals(HostKind.XEN, c.host());
        assertEquals(Path.of("/tmp/vtpmback-sim"), c.simulationDir());
        assertEquals(Optional.empty(), c.xenstoredSocket());
        assertEquals(Path.of("/var/lib/vtpmback/master.key"), c.masterKey());
        assertEquals(LogLevel.INFO, c.logLevel());
        assertEquals(Map.of(), c.tpmFamilies());
        assertEquals(2, c.manufacturePool());
        assertEquals(d.describe(), c.describe());
    }

    @Test
    void missingDefaultFileGivesTheDefaults() {
        // The tests do not run where /etc/vtpmback/vtpmback.conf exists; if it ever does, skip the comparison.
        if (!Files.exists(VtpmbackConfig.DEFAULT_FILE)) {
            assertEquals(VtpmbackConfig.defaults(), ConfigLoader.load(Optional.empty(), List.of()));
        }
    }

    @Test
    void missingExplicitFileIsAnError() {
        Path missing = tmp.resolve("nope.conf");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(Optional.of(missing), List.of()));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void everyKeyIsRead() throws Exception {
        Path file = tmp.resolve("vtpmback.conf");
        Files.writeString(file, String.join("\n",
                "backend-domid = 3",
                "  state-dir=/srv/vtpm/state  ",
                "runtime-dir: /run/vt",
                "swtpm = /opt/swtpm/bin/swtpm",
                "default-tpm-family = 1.2",
                "host = simulated",
                "simulation-dir = /tmp/sim",
                "xenstored-socket = /run/xenstored/socket",
                "master-key = /etc/vtpmback/master.key",
                "log-level = debug",
                "manufacture-pool = 5",
                "tpm-family." + UUID.toUpperCase() + " = 2.0",
                ""));
        VtpmbackConfig c = ConfigLoader.load(Optional.of(file), List.of());
        assertEquals(Optional.of(file), c.source());
        assertEquals(3, c.backendDomid());
        assertEquals(Path.of("/srv/vtpm/state"), c.stateDir());
        assertEquals(Path.of("/run/vt"), c.runtimeDir());
        assertEquals("/opt/swtpm/bin/swtpm", c.swtpm());
        assertEquals(TpmFamily.TPM12, c.defaultTpmFamily());
        assertEquals(HostKind.SIMULATED, c.host());
        assertEquals(Path.of("/tmp/sim"), c.simulationDir());
        assertEquals(Optional.of(Path.of("/run/xenstored/socket")), c.xenstoredSocket());
        assertEquals(Path.of("/etc/vtpmback/master.key"), c.masterKey());
        assertEquals(LogLevel.DEBUG, c.logLevel());
        assertEquals(5, c.manufacturePool());
        assertEquals(TpmFamily.TPM2, c.familyOf(UUID));
        assertEquals(TpmFamily.TPM12, c.familyOf("00000000-0000-0000-0000-000000000000"));
    }

    @Test
    void overridesWinOverTheFile() {
        VtpmbackConfig c = parse("backend-domid = 3\nlog-level = warn\n",
                "backend-domid=7", "xenstored-socket=", "tpm-family." + UUID + "=1.2");
        assertEquals(7, c.backendDomid());
        assertEquals(LogLevel.WARN, c.logLevel());
        assertEquals(Optional.empty(), c.xenstoredSocket());
        assertEquals(TpmFamily.TPM12, c.familyOf(UUID));
        assertEquals(TpmFamily.TPM12, c.familyOf(UUID.toUpperCase()));
        assertEquals(TpmFamily.TPM2, c.familyOf("00000000-0000-0000-0000-000000000000"));
    }

    @Test
    void perUuidFamilyOverridesTheDefault() {
        VtpmbackConfig c = parse("default-tpm-family = 1.2\ntpm-family." + UUID + " = 2.0\n");
        assertEquals(TpmFamily.TPM2, c.familyOf(UUID));
        assertEquals(TpmFamily.TPM12, c.familyOf("11111111-2222-3333-4444-555555555555"));
        assertTrue(c.describe().contains("tpm-family." + UUID + " = 2.0"), c.describe().toString());
    }

    @Test
    void manufacturePoolIsKeptForEachFamilyAFirstStartCanGet() {
        assertEquals(Map.of(TpmFamily.TPM2, 2), parse("").poolSizes(), "default: 2 of the default family");
        assertEquals(Path.of("/var/lib/vtpmback/pool"), parse("").poolDir());
        VtpmbackConfig c = parse("manufacture-pool = 3\ntpm-family." + UUID + " = 1.2\n");
        assertEquals(Map.of(TpmFamily.TPM2, 3, TpmFamily.TPM12, 3), c.poolSizes(), "and the family a tpm-family line names");
        assertTrue(c.describe().contains("manufacture-pool = 3   (kept for 2.0 and 1.2, in /var/lib/vtpmback/pool)"),
                c.describe().toString());
        VtpmbackConfig off = parse("manufacture-pool = 0\n");
        assertEquals(Map.of(), off.poolSizes());
        assertTrue(off.describe().contains("manufacture-pool = 0   (no pool: every first start generates its keys)"),
                off.describe().toString());
        assertEquals(FILE + ":1: bad value for manufacture-pool: '65' is not a whole number from 0 to 64",
                failure("manufacture-pool = 65\n").getMessage());
        assertEquals(FILE + ":1: bad value for manufacture-pool: '-1' is not a whole number from 0 to 64",
                failure("manufacture-pool = -1\n").getMessage());
    }

    @Test
    void unknownKeyNamesFileLineAndKey() {
        ConfigException e = failure("# comment\nbackend-domid = 0\n\nstate_dir = /x\n");
        assertEquals(FILE + ":4: unknown key 'state_dir'", e.getMessage().substring(0, e.getMessage().indexOf(" (")));
        assertTrue(e.getMessage().contains("state-dir"), "lists the known keys: " + e.getMessage());
        assertFalse(e.commandLine());
    }

    @Test
    void unknownKeyInSetIsACommandLineError() {
        ConfigException e = failure("", "colour=blue");
        assertTrue(e.getMessage().startsWith("--set colour=blue: unknown key 'colour'"), e.getMessage());
        assertTrue(e.commandLine());
    }

    @Test
    void badFamilyIsRejected() {
        ConfigException e = failure("\ndefault-tpm-family = 2\n");
        assertEquals(FILE + ":2: bad value for default-tpm-family: '2' is not a TPM family (2.0 or 1.2)", e.getMessage());
        ConfigException perUuid = failure("tpm-family." + UUID + " = tpm2\n");
        assertTrue(perUuid.getMessage().startsWith(FILE + ":1: bad value for tpm-family." + UUID + ": 'tpm2'"),
                perUuid.getMessage());
    }

    @Test
    void familyKeyNeedsAUuid() {
        ConfigException e = failure("tpm-family.guest1 = 1.2\n");
        assertTrue(e.getMessage().startsWith(FILE + ":1: bad value for tpm-family.guest1: 'guest1' is not a uuid"),
                e.getMessage());
    }

    @Test
    void badValuesAreRejectedWithLineAndKey() {
        assertTrue(failure("backend-domid = dom0").getMessage().startsWith(FILE + ":1: bad value for backend-domid"));
        assertTrue(failure("backend-domid = 32752").getMessage().contains("0 to 32751"));
        assertTrue(failure("backend-domid = -1").getMessage().startsWith(FILE + ":1: bad value for backend-domid"));
        assertTrue(failure("host = hvm").getMessage().contains("'hvm' is not one of xen | simulated"));
        assertTrue(failure("log-level = verbose").getMessage().startsWith(FILE + ":1: bad value for log-level"));
        assertTrue(failure("state-dir = var/lib").getMessage().contains("not an absolute path"));
        assertTrue(failure("swtpm =").getMessage().startsWith(FILE + ":1: bad value for swtpm: empty"));
        assertTrue(failure("runtime-dir = /" + "r".repeat(80)).getMessage().contains("106 bytes"));
    }

    @Test
    void syntaxErrorsAreRejected() {
        assertTrue(failure("state-dir /x").getMessage().startsWith(FILE + ":1: expected 'key = value'"));
        assertTrue(failure("state-dir = /a\\\n/b").getMessage().contains("continuation"));
        ConfigException twice = failure("log-level = info\nswtpm = swtpm\nlog-level = debug\n");
        assertEquals(FILE + ":3: key 'log-level' is already set on line 1", twice.getMessage());
        assertTrue(failure("", "log-level").getMessage().contains("expected --set key=value"));
    }

    /** Failed before: "log-level = info # comment" was "bad value for log-level: 'info # comment'". */
    @Test
    void aHashAfterABlankStartsAComment() {
        VtpmbackConfig c = parse("log-level = warn # quieter\nbackend-domid = 4\t# a driver domain\n"
                + "swtpm = /opt/swtpm#2/bin/swtpm   # the second build\n");
        assertEquals(LogLevel.WARN, c.logLevel());
        assertEquals(4, c.backendDomid());
        assertEquals("/opt/swtpm#2/bin/swtpm", c.swtpm(), "a # without a blank before it is part of the value");
        assertEquals("swtpm#2", parse("swtpm = swtpm#2\n").swtpm());
        assertTrue(failure("swtpm = # no value\n").getMessage().startsWith(FILE + ":1: bad value for swtpm: empty"));
        assertEquals("x # y", parse("", "swtpm=x # y").swtpm(), "--set takes its value as given");
    }

    @Test
    void windowsLineEndingsAreTolerated() {
        assertEquals(5, parse("backend-domid = 5\r\nlog-level = error\r\n").backendDomid());
    }

    @Test
    void theEtcdStoreKeysAreReadAndStoreLocalIsTheDefault() throws Exception {
        assertEquals(StoreSettings.LOCAL, parse("").store());
        Path pem = Files.writeString(tmp.resolve("ca.pem"), "-----BEGIN CERTIFICATE-----\n");
        StoreSettings s = parse("store = etcd\netcd-endpoints = https://10.0.0.1:2379, https://10.0.0.2:2379\n"
                + "etcd-ca = " + pem + "\netcd-cert = " + pem + "\netcd-key = " + pem + "\netcd-prefix = /pool-1\n"
                + "etcd-lease-ttl = 6\npool-host-id = dom0-a\n").store();
        assertEquals(StoreSettings.Kind.ETCD, s.kind());
        assertEquals(List.of(java.net.URI.create("https://10.0.0.1:2379"), java.net.URI.create("https://10.0.0.2:2379")), s.endpoints());
        assertEquals(Optional.of(pem), s.key());
        assertEquals("/pool-1", s.prefix());
        assertEquals(6, s.leaseTtl());
        assertEquals(Optional.of("dom0-a"), s.hostId());
    }

    @Test
    void aWrongEtcdStoreSettingSaysWhatToSet() {
        assertTrue(failure("store = etcd\n").getMessage().contains("store = etcd needs etcd-endpoints: set it to the client"
                + " URLs of the pool's etcd members"), "missing endpoints");
        assertTrue(failure("store = etcd\netcd-endpoints = https://10.0.0.1:2379\n").getMessage()
                .contains("has https URLs (https://10.0.0.1:2379) but no TLS files: set etcd-ca, etcd-cert and etcd-key"), "https without TLS");
        assertTrue(failure("etcd-endpoints = 10.0.0.1:2379\n").getMessage().contains(FILE + ":1: bad value for etcd-endpoints:"
                + " '10.0.0.1:2379' is not an etcd client URL http(s)://host:port"), "no scheme");
        assertTrue(failure("etcd-lease-ttl = 1\n").getMessage().contains("at least 2"), "TTL below etcd's minimum");
        assertTrue(failure("etcd-ca = /nonexistent/ca.pem\n").getMessage().contains("is not a readable file"), "missing PEM");
        assertTrue(failure("pool-host-id = a b\n").getMessage().contains("is not a host name for the pool"), "host id");
        assertTrue(failure("store = etcd\netcd-endpoints = http://127.0.0.1:2379\netcd-prefix = vtpmback\n").getMessage()
                .contains("is not a key prefix"), "prefix");
    }
}
