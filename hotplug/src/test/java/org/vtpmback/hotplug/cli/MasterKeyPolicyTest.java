package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.PrivatePaths;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.config.ConfigLoader;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * The master key policy through the commands: no key is made while sealed records exist, a missing or
 * foreign key is one clear line and exit 1, and the key and both folders are checked for symbolic links,
 * owner and mode by the daemon, init and check. The daemon runs in-process with a stand-in swtpm and no
 * xenstored: every refusal here happens before it would connect.
 */
class MasterKeyPolicyTest {
    @TempDir
    Path tmp;
    Path state;
    Path key;
    final String uuidA = UUID.randomUUID().toString();
    final String uuidB = UUID.randomUUID().toString();

    record Run(int status, String out, String err) {
    }

    @BeforeEach
    void twoSealedRecords() throws Exception {
        state = tmp.resolve("state");
        key = state.resolve("master.key");
        InstanceStore store = new InstanceStore(state.resolve("instances"), MasterKey.create(key));
        for (String u : List.of(uuidA, uuidB)) {
            store.save(new InstanceRecord(new Uuid(u), TpmFamily.TPM2, Instant.parse("2026-01-02T03:04:05Z"), 3, EndKind.SHUTDOWN,
                    new byte[] {7}, Optional.empty()));
        }
    }

    private Run run(String command, String... more) {
        List<String> all = new ArrayList<>(List.of(command));
        for (String s : new String[] {"state-dir=" + state, "runtime-dir=" + tmp.resolve("run"), "host=simulated",
                "simulation-dir=" + tmp.resolve("sim"), "xenstored-socket=" + tmp.resolve("no-xenstored.sock"),
                "swtpm=" + (Files.isExecutable(Path.of("/bin/true")) ? "/bin/true" : "/usr/bin/true"), "log-level=error"}) {
            all.add("--set");
            all.add(s);
        }
        all.addAll(List.of(more));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(all.toArray(String[]::new), o, e, stop -> () -> { });
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The refusal, up to the count of sealed files (2 records, and the generation anchor where there is one). */
    private String missing() {
        return "master key " + key + " is missing but " + state.resolve("instances") + " holds ";
    }

    private static final String RESTORE = " sealed with it: restore the key from its backup to that path";

    /** Failed before the fix: the daemon and import made a new key, and list said "no vTPMs stored" with exit 0. */
    @Test
    void aMissingKeyWithRecordsIsRefusedByDaemonListImportAndExport() throws Exception {
        Path bundle = tmp.resolve("b.bundle");
        Path pass = Files.writeString(tmp.resolve("pass"), "pw\n");
        assertEquals(0, run("export", "--passphrase-file", pass.toString(), uuidA, bundle.toString()).status());
        Files.delete(key);

        Run daemon = run("daemon");
        assertEquals(Main.CONFIG, daemon.status(), daemon.err()); // restore the key: systemd must not retry
        assertTrue(daemon.err().startsWith("vtpmback daemon: " + missing()) && daemon.err().contains(RESTORE), daemon.err());
        assertEquals(1, daemon.err().lines().count(), daemon.err());

        Run list = run("list");
        assertEquals(1, list.status(), list.out());
        assertTrue(list.err().startsWith("vtpmback list: 2 records unreadable: wrong or missing master key: " + missing())
                && list.err().contains(RESTORE), list.err());

        Run imp = run("import", "--replace", "--passphrase-file", pass.toString(), bundle.toString());
        assertEquals(1, imp.status());
        assertTrue(imp.err().contains(missing()) && imp.err().contains(RESTORE), imp.err());
        Run exp = run("export", "--passphrase-file", pass.toString(), uuidA, tmp.resolve("c.bundle").toString());
        assertEquals(1, exp.status());
        assertTrue(exp.err().contains(missing()), exp.err());
        Run init = run("init");
        assertEquals(1, init.status());
        assertTrue(init.err().contains(missing()) && init.err().contains("move " + state.resolve("instances") + " away"),
                init.err());
        assertFalse(PrivatePaths.exists(key), "no command made a key");
    }

    /** Failed before the fix: list printed the UNREADABLE lines but no count and no hint at the key. */
    @Test
    void listWithAnotherKeySaysHowManyRecordsAreUnreadable() throws Exception {
        Files.delete(key);
        MasterKey.create(key); // not the key that sealed them
        Run list = run("list");
        assertEquals(1, list.status());
        assertTrue(list.out().contains(uuidA + "  UNREADABLE: "), list.out());
        Run check = run("check");
        assertTrue(check.out().contains("FAIL  master-key: " + key + " is a regular file of this uid, mode 0600, 32 bytes,"
                + " but it opens none of the 2 stored vTPM records: wrong master key"), check.out());
        assertTrue(list.err().startsWith("vtpmback list: 2 records unreadable: wrong or missing master key (" + key + ")"),
                list.err());
    }

    @Test
    void initMakesTheKeyOnceWithTheBackupAdvice() throws Exception {
        Run again = run("init");
        assertEquals(1, again.status());
        assertTrue(again.err().contains("master key " + key + " already exists; init changes nothing"), again.err());
        byte[] before = Files.readAllBytes(key);

        state = tmp.resolve("fresh/state");
        key = state.resolve("master.key");
        Run init = run("init");
        assertEquals(0, init.status(), init.err());
        assertTrue(init.out().contains("state-dir " + state + ": created, mode 0700"), init.out());
        assertTrue(init.out().contains("created master key " + key), init.out());
        assertTrue(init.out().contains("Back it up now"), init.out());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
        assertFalse(java.util.Arrays.equals(before, Files.readAllBytes(key)));
        Run list = run("list");
        assertEquals(0, list.status(), list.err());
    }

    @Test
    void theKeyFollowsStateDirUnlessSetExplicitly() {
        VtpmbackConfig c = ConfigLoader.parse(Optional.empty(), List.of("state-dir=/srv/vtpm"));
        assertEquals(Path.of("/srv/vtpm/master.key"), c.masterKey());
        VtpmbackConfig explicit = ConfigLoader.parse(Optional.empty(), List.of("master-key=/etc/k", "state-dir=/srv/vtpm"));
        assertEquals(Path.of("/etc/k"), explicit.masterKey());
    }

    /** Failed before the fix: the daemon used a symbolic link as its state folder. */
    @Test
    void aSymlinkedStateFolderIsRefusedByDaemonInitAndCheck() throws Exception {
        Path link = tmp.resolve("link");
        Files.createSymbolicLink(link, state);
        state = link;
        String line = "state-dir " + link + " is a symbolic link (-> " + tmp.resolve("state") + "); refusing to follow it";
        Run daemon = run("daemon");
        assertEquals(Main.CONFIG, daemon.status());
        assertTrue(daemon.err().startsWith("vtpmback daemon: " + line), daemon.err());
        assertEquals(1, daemon.err().lines().count(), daemon.err());
        assertTrue(run("init").err().startsWith("vtpmback init: " + line));
        Run check = run("check");
        assertEquals(1, check.status());
        assertTrue(check.out().contains("FAIL  state-dir: " + line), check.out());
    }

    /** Failed before the fix: permission bits of the folders were not checked. */
    @Test
    void openFoldersAreRefused() throws Exception {
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwxr-x---"));
        Run daemon = run("daemon");
        assertEquals(Main.CONFIG, daemon.status());
        assertEquals("vtpmback daemon: state-dir " + state + " has mode 0750, open to group or others; chmod 700 " + state,
                daemon.err().strip());
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwx------"));
        Path runtime = Files.createDirectory(tmp.resolve("run"));
        Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwxrwxr-x"));
        Run open = run("daemon");
        assertEquals(Main.CONFIG, open.status());
        assertEquals("vtpmback daemon: runtime-dir " + runtime + " has mode 0775, open to group or others; chmod go-w "
                + runtime, open.err().strip());
        assertTrue(run("check").out().contains("FAIL  runtime-dir: runtime-dir " + runtime + " has mode 0775"));
    }

    /** Failed before the fix: 0640 was accepted as long as others had no bit. */
    @Test
    void aGroupReadableKeyIsRefusedByDaemonAndCheck() throws Exception {
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r-----"));
        Run daemon = run("daemon");
        assertEquals(1, daemon.status());
        assertEquals("vtpmback daemon: master key " + key + " has mode 0640, open to group or others; chmod 600 " + key,
                daemon.err().strip());
        Run check = run("check");
        assertTrue(check.out().contains("FAIL  master-key: master key " + key + " has mode 0640"), check.out());
        assertEquals(1, run("list").status());
    }

    /** Failed before the fix: the owner of the key was not checked. */
    @Test
    void aKeyOwnedByAnotherUidIsRefused() throws Exception {
        assumeTrue(PrivatePaths.processUid() == 0, "chown needs root");
        Files.setOwner(key, key.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
        Run daemon = run("daemon");
        assertEquals(1, daemon.status());
        assertTrue(daemon.err().startsWith("vtpmback daemon: master key " + key + " is owned by uid 65534, not by this"
                + " process's uid 0"), daemon.err());
        assertEquals(1, run("list").status());
    }

    @Test
    void checkReportsAHealthyKeyAndWarnsWhenThereIsNoneYet() throws Exception {
        Run ok = run("check");
        assertTrue(ok.out().contains("OK    master-key: " + key + " is a regular file of this uid, mode 0600, 32 bytes;"
                + " opens 2 of 2 stored vTPM records"), ok.out());
        boolean tmpfs = Dirs.notInRam(tmp).isEmpty();
        assertTrue(ok.out().contains((tmpfs ? "OK    runtime-dir: " : "WARN  runtime-dir: runtime-dir " + tmp.resolve("run")
                + " is on a ")), ok.out());
        state = tmp.resolve("fresh");
        key = state.resolve("master.key");
        Run none = run("check");
        assertTrue(none.out().contains("WARN  master-key: " + key + " does not exist yet: run 'vtpmback init'"), none.out());
        assertFalse(Files.exists(state), "check changes nothing");
    }

    /** The systemd credential: $CREDENTIALS_DIRECTORY/<name>, as LoadCredential= lays it out (0400, our uid). */
    @Test
    void theKeyCanComeFromASystemdCredentialsDirectory() throws Exception {
        Path creds = Files.createDirectory(tmp.resolve("credentials"));
        Path credential = Files.copy(key, creds.resolve("vtpmback-master-key"));
        Files.setPosixFilePermissions(credential, PosixFilePermissions.fromString("r--------"));
        Files.delete(key); // the plain file is gone: only the credential opens the records
        VtpmbackConfig config = ConfigLoader.parse(Optional.empty(), List.of("state-dir=" + state,
                "master-key-credential=vtpmback-master-key"));
        Map<String, String> env = Map.of(MasterKeys.CREDENTIALS_DIRECTORY, creds.toString());

        MasterKey fromCredential = MasterKeys.forDaemon(config, env);
        InstanceStore store = Instances.sharedStore(config, MasterKeys.forCommand(config, env).orElseThrow());
        assertArrayEquals(new byte[] {7}, store.load(new Uuid(uuidA)).orElseThrow().permanent());
        assertEquals(credential, fromCredential.path());

        IOException outside = assertThrows(IOException.class, () -> MasterKeys.forDaemon(config, Map.of()));
        assertTrue(outside.getMessage().contains("$CREDENTIALS_DIRECTORY is not set"), outside.getMessage());
        Files.delete(credential);
        Files.delete(state.resolve("instances").resolve(uuidA + ".vtpm"));
        Files.delete(state.resolve("instances").resolve(uuidB + ".vtpm"));
        IOException gone = assertThrows(IOException.class, () -> MasterKeys.forDaemon(config, env));
        assertTrue(gone.getMessage().contains("a key is never made in place of a credential"), gone.getMessage());
        assertFalse(Files.exists(credential));
        assertTrue(run("daemon", "--set", "master-key-credential=vtpmback-master-key").err()
                .contains("$CREDENTIALS_DIRECTORY is not set"));
    }
}
