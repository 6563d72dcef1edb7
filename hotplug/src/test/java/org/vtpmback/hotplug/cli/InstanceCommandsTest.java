package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
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
import org.vtpmback.backend.state.Uuid;

/** list, delete, export and import on a store in a temp folder, as a second process next to the daemon would. */
class InstanceCommandsTest {
    @TempDir
    Path tmp;
    Path hostA;
    Path hostB;
    Path pass;
    String uuid = UUID.randomUUID().toString();

    record Run(int status, String out, String err) {
    }

    @BeforeEach
    void setUp() throws Exception {
        hostA = tmp.resolve("a");
        hostB = tmp.resolve("b");
        pass = Files.writeString(tmp.resolve("pass"), "export passphrase\n");
        InstanceStore store = new InstanceStore(hostA.resolve("state/instances"), MasterKey.create(hostA.resolve("state/master.key")));
        store.save(new InstanceRecord(new Uuid(uuid), TpmFamily.TPM2, Instant.parse("2026-01-02T03:04:05Z"), 5, EndKind.SUSPENDED,
                new byte[] {1, 2, 3}, Optional.of(new InstanceRecord.Snapshot(EndKind.SUSPENDED, new byte[] {4, 5}))));
    }

    private Run run(Path host, String... args) {
        List<String> all = new ArrayList<>(List.of(args[0]));
        // No master-key: it follows state-dir (<state-dir>/master.key).
        for (String s : new String[] {"state-dir=" + host.resolve("state"), "runtime-dir=" + host.resolve("run"), "log-level=warn"}) {
            all.add("--set");
            all.add(s);
        }
        all.addAll(List.of(args).subList(1, args.length));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(all.toArray(String[]::new), o, e, stop -> () -> { });
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void listShowsTheStoredInstances() {
        Run r = run(hostA, "list");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("UUID"), r.out());
        assertTrue(r.out().contains(uuid + "  2.0              5  SUSPENDED       SUSPENDED         2026-01-02T03:04:05Z  -"), r.out());
        System.out.print(r.out());
        Run empty = run(hostB, "list");
        assertEquals(0, empty.status());
        assertTrue(empty.out().contains("no vTPMs stored"), empty.out());
        assertFalse(Files.exists(hostB.resolve("state/master.key")), "list creates no master key");
    }

    /** Failed before: 'list --json' was an unknown option (exit 2). */
    @Test
    void listJsonIsOneDocumentWithStableFields() throws Exception {
        Run r = run(hostA, "list", "--json");
        assertEquals(0, r.status(), r.err());
        assertEquals("{\"vtpms\":[{\"uuid\":\"" + uuid + "\",\"family\":\"2.0\",\"generation\":5,\"last_end\":\"SUSPENDED\","
                + "\"snapshot\":\"SUSPENDED\",\"created\":\"2026-01-02T03:04:05Z\",\"in_use\":false,\"domid\":null,\"domain\":null}]}\n", r.out());
        assertEquals("{\"vtpms\":[]}\n", run(hostB, "list", "--json").out(), "nothing stored: still one document");
        Path f = hostA.resolve("state/instances/" + uuid + ".vtpm");
        byte[] b = Files.readAllBytes(f);
        b[b.length - 1] ^= 1;
        Files.write(f, b);
        Run bad = run(hostA, "list", "--json");
        assertEquals(1, bad.status());
        assertTrue(bad.out().startsWith("{\"vtpms\":[{\"uuid\":\"" + uuid + "\",\"error\":\"stored state of vTPM " + uuid), bad.out());
        assertEquals(1, bad.out().lines().count(), bad.out());
        assertTrue(bad.err().contains("1 record unreadable"), bad.err());
    }

    /** Failed before: "cannot export vTPM <uuid>: /nonexist/..." with an internal temp-file name, or the bare path. */
    @Test
    void exportToAMissingFolderOrWithoutAPassphraseSaysWhatToDo() throws Exception {
        Path folder = tmp.resolve("no-such-folder");
        Run r = run(hostA, "export", "--passphrase-file", pass.toString(), uuid, folder.resolve("b.bundle").toString());
        assertEquals(1, r.status());
        assertEquals("vtpmback export: cannot write bundle " + folder.resolve("b.bundle") + ": folder " + folder
                + " does not exist (ENOENT); create it or give another path; nothing was exported\n", r.err());
        Path file = Files.writeString(tmp.resolve("a-file"), "");
        Run notDir = run(hostA, "export", "--passphrase-file", pass.toString(), uuid, file.resolve("b.bundle").toString());
        assertTrue(notDir.err().contains(": " + file + " is not a folder (ENOTDIR); give another path"), notDir.err());
        Path noPass = tmp.resolve("no-pass");
        Run p = run(hostA, "export", "--passphrase-file", noPass.toString(), uuid, tmp.resolve("c.bundle").toString());
        assertEquals(1, p.status());
        assertEquals("vtpmback export: passphrase file " + noPass + " does not exist (ENOENT); check the path given to"
                + " --passphrase-file; nothing was exported\n", p.err());
        assertFalse(Files.exists(tmp.resolve("c.bundle")));
        Run other = run(hostA, "export", "--passphrase-file", pass.toString(), UUID.randomUUID().toString(),
                tmp.resolve("d.bundle").toString());
        assertTrue(other.err().contains("in " + hostA.resolve("state/instances") + "; 'vtpmback list' shows the stored ones"),
                other.err());
        Run noStore = run(hostB, "delete", "--yes", uuid);
        assertTrue(noStore.err().contains("(this host has no master key at " + hostB.resolve("state/master.key")
                + " and stores no vTPM)") && noStore.err().contains("nothing was deleted"), noStore.err());
        Run noBundle = run(hostA, "import", "--passphrase-file", pass.toString(), tmp.resolve("none.bundle").toString());
        assertEquals("vtpmback import: cannot read bundle " + tmp.resolve("none.bundle")
                + ": ENOENT (No such file or directory); nothing was imported\n", noBundle.err());
    }

    @Test
    void listFlagsAnUnreadableFile() throws Exception {
        Path f = hostA.resolve("state/instances/" + uuid + ".vtpm");
        byte[] b = Files.readAllBytes(f);
        b[b.length - 1] ^= 1;
        Files.write(f, b);
        Run r = run(hostA, "list");
        assertEquals(1, r.status());
        assertTrue(r.out().contains(uuid + "  UNREADABLE: stored state of vTPM " + uuid), r.out());
    }

    @Test
    void exportThenImportOnAnotherHost() throws Exception {
        Path bundle = tmp.resolve("vtpm.bundle");
        Run e = run(hostA, "export", "--passphrase-file", pass.toString(), uuid, bundle.toString());
        assertEquals(0, e.status(), e.err());
        assertTrue(e.out().contains("exported vTPM " + uuid + " (2.0, generation 5, last end SUSPENDED, with its SUSPENDED snapshot)"), e.out());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(bundle)));
        assertEquals(1, run(hostA, "export", "--passphrase-file", pass.toString(), uuid, bundle.toString()).status(),
                "no overwrite of a bundle");

        Run noKey = run(hostB, "import", "--passphrase-file=" + pass, bundle.toString());
        assertEquals(1, noKey.status(), "import never makes a master key");
        assertTrue(noKey.err().contains("run 'vtpmback init' first"), noKey.err());
        assertFalse(Files.exists(hostB.resolve("state/master.key")));
        Run init = run(hostB, "init");
        assertEquals(0, init.status(), init.err());
        assertTrue(init.out().contains("created master key " + hostB.resolve("state/master.key")), init.out());
        Run i = run(hostB, "import", "--passphrase-file=" + pass, bundle.toString());
        assertEquals(0, i.status(), i.err());
        assertTrue(i.out().contains("imported vTPM " + uuid), i.out());
        InstanceStore b = new InstanceStore(hostB.resolve("state/instances"), MasterKey.load(hostB.resolve("state/master.key")));
        InstanceRecord r = b.load(new Uuid(uuid)).orElseThrow();
        assertEquals(5, r.generation());
        assertArrayEquals(new byte[] {4, 5}, r.snapshot().orElseThrow().volatileState());
        assertFalse(Files.readAllBytes(hostA.resolve("state/master.key")).equals(Files.readAllBytes(hostB.resolve("state/master.key"))));

        Run again = run(hostB, "import", "--passphrase-file", pass.toString(), bundle.toString());
        assertEquals(1, again.status());
        assertTrue(again.err().contains("already stored") && again.err().contains("--replace"), again.err());
        assertEquals(0, run(hostB, "import", "--replace", "--passphrase-file", pass.toString(), bundle.toString()).status());
    }

    @Test
    void importWithTheWrongPassphraseOrATamperedBundleStoresNothing() throws Exception {
        Path bundle = tmp.resolve("vtpm.bundle");
        assertEquals(0, run(hostA, "export", "--passphrase-file", pass.toString(), uuid, bundle.toString()).status());
        assertEquals(0, run(hostB, "init").status());
        Path wrong = Files.writeString(tmp.resolve("wrong"), "not it\n");
        Run r = run(hostB, "import", "--passphrase-file", wrong.toString(), bundle.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("wrong passphrase") && r.err().contains("nothing was imported"), r.err());
        byte[] b = Files.readAllBytes(bundle);
        b[b.length - 5] ^= 1;
        Files.write(bundle, b);
        assertEquals(1, run(hostB, "import", "--passphrase-file", pass.toString(), bundle.toString()).status());
        assertFalse(Files.exists(hostB.resolve("state/instances/" + uuid + ".vtpm")));
    }

    @Test
    void deleteNeedsYesAndRefusesAnInstanceInUse() throws Exception {
        Run r = run(hostA, "delete", uuid);
        assertEquals(1, r.status());
        assertTrue(r.err().contains("refusing to delete vTPM " + uuid + " without --yes") && r.err().contains("then add --yes"), r.err());
        Path runtime = Files.createDirectories(hostA.resolve("run/instances/" + uuid));
        Run busy = run(hostA, "delete", "--yes", uuid);
        assertEquals(1, busy.status());
        assertTrue(busy.err().contains("in use") && busy.err().contains(runtime.toString()), busy.err());
        Files.delete(runtime);
        Run ok = run(hostA, "delete", "--yes", uuid);
        assertEquals(0, ok.status(), ok.err());
        assertFalse(Files.exists(hostA.resolve("state/instances/" + uuid + ".vtpm")));
        assertEquals(1, run(hostA, "delete", "--yes", uuid).status(), "gone");
        Run bad = run(hostA, "delete", "--yes", "not-a-uuid");
        assertEquals(Main.USAGE, bad.status(), "the help's usage error; it was 1"); // failed before: 1
        assertTrue(bad.err().contains("'not-a-uuid' is not a uuid") && bad.err().contains("Try 'vtpmback delete --help'."),
                bad.err());
    }
}
