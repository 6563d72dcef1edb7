package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;

/** {@code vtpmback import --replace} of an export older than the stored vTPM: refused unless --allow-rollback. */
class ImportRollbackTest {
    @TempDir
    Path tmp;

    record Run(int status, String out, String err) {
    }

    private Run run(Path host, String... args) {
        List<String> all = new ArrayList<>(List.of(args[0]));
        for (String s : new String[] {"state-dir=" + host.resolve("state"), "runtime-dir=" + host.resolve("run"),
                "master-key=" + host.resolve("state/master.key"), "log-level=warn"}) {
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

    private static InstanceRecord record(Uuid uuid, long generation, byte nv) {
        return new InstanceRecord(uuid, TpmFamily.TPM2, Instant.parse("2026-01-02T03:04:05Z"), generation, EndKind.SHUTDOWN,
                new byte[] {nv, nv, nv}, Optional.empty());
    }

    @Test
    void anOlderExportIsRefusedAndTakenOnlyWithAllowRollback() throws Exception {
        Path host = tmp.resolve("host");
        Path pass = Files.writeString(tmp.resolve("pass"), "export passphrase\n");
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        InstanceStore store = new InstanceStore(host.resolve("state/instances"), MasterKey.create(host.resolve("state/master.key")));
        store.save(record(uuid, 5, (byte) 5));
        Path bundle = tmp.resolve("old.bundle");
        assertEquals(0, run(host, "export", "--passphrase-file", pass.toString(), uuid.value(), bundle.toString()).status());
        store.save(record(uuid, 6, (byte) 6)); // the vTPM ran on: NV counters moved on
        store.save(record(uuid, 7, (byte) 7));

        Run refused = run(host, "import", "--replace", "--passphrase-file", pass.toString(), bundle.toString());
        assertEquals(1, refused.status(), refused.out());
        assertTrue(refused.err().contains(uuid.value()) && refused.err().contains("generation 5")
                && refused.err().contains("generation 7") && refused.err().contains("--allow-rollback")
                && refused.err().contains("nothing was imported"), refused.err());
        assertEquals(7, store.load(uuid).orElseThrow().generation());

        Run allowed = run(host, "import", "--replace", "--allow-rollback", "--passphrase-file", pass.toString(), bundle.toString());
        assertEquals(0, allowed.status(), allowed.err());
        assertTrue(allowed.out().contains("imported vTPM " + uuid + " (2.0, generation 8"), allowed.out());
        // Failed before: import left java.util.logging's two-line default on the JVM's own stderr, not the command's.
        List<String> warning = allowed.err().lines().filter(l -> l.contains("ROLLBACK allowed by the operator")).toList();
        assertEquals(1, warning.size(), allowed.err());
        assertTrue(warning.get(0).matches("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z WARN  \\[[^]]+\\] InstanceStore: ROLLBACK .*"),
                warning.get(0));
        InstanceRecord now = store.load(uuid).orElseThrow();
        assertEquals(8, now.generation(), "stored above the mark, so generations still only move forward");
        assertArrayEquals(new byte[] {5, 5, 5}, now.permanent(), "the state of the old export");
    }
}
