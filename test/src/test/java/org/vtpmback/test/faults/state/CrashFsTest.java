package org.vtpmback.test.faults.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The power-cut model checked on its own before anything is measured with it: a JVM under the shim
 * does one thing to a folder ({@link CrashFsProbe}), the power goes, and only what the JDK's
 * fsync/fdatasync made durable is left.
 */
@Timeout(120)
class CrashFsTest {
    @TempDir
    Path work;

    private String cutAfter(String scenario, String existing) throws Exception {
        Path root = Files.createDirectories(work.resolve("root"));
        if (existing != null) {
            Files.writeString(root.resolve("file"), existing);
        }
        CrashFs fs = new CrashFs(root, work.resolve("shadow"), work.resolve("build"));
        fs.newProcess();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                CrashFsProbe.class.getName(), scenario, fs.root().toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(fs.environment());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, scenario + ": " + out);
        assertFalse(fs.events().isEmpty() && scenario.equals("written-and-renamed") && fs.events().stream().anyMatch(e -> e.contains("fsync")),
                fs.events().toString());
        fs.powerCut();
        Path file = fs.root().resolve("file");
        return Files.exists(file) ? Files.readString(file) : null;
    }

    @Test
    void aFileWrittenAndRenamedWithoutFsyncIsGone() throws Exception {
        assertEquals(null, cutAfter("written-and-renamed", null));
    }

    @Test
    void aSyncedFileRenamedInAnUnsyncedFolderIsGone() throws Exception {
        assertEquals(null, cutAfter("synced-not-the-folder", null));
    }

    @Test
    void atomicFilesWriteSurvives() throws Exception {
        assertEquals("durable", cutAfter("atomic", null));
    }

    @Test
    void anUnsyncedOverwriteLeavesTheLastSyncedContent() throws Exception {
        assertEquals("old", cutAfter("overwritten-in-place", "old"));
    }

    @Test
    void anAtomicReplaceSurvivesWithTheNewContent() throws Exception {
        assertEquals("new", cutAfter("replaced-atomically", "old"));
    }

    @Test
    void aDurableDeleteStaysDeleted() throws Exception {
        assertEquals(null, cutAfter("deleted", "old"));
    }

    @Test
    void aFileInANewFolderSurvivesOnlyIfTheFolderDoes() throws Exception {
        cutAfter("new-folder", null);
        Path file = work.resolve("root/sub/deeper/file");
        assertTrue(Files.exists(file), "AtomicFiles.createPrivateDirectory must make a new folder's name durable: "
                + listing(work.resolve("root")));
        assertEquals("in a new folder", Files.readString(file));
    }

    @Test
    void aNewLocalCaSurvivesAPowerCut() throws Exception {
        cutAfter("local-ca", null);
        Path ca = work.resolve("root/ca");
        assertTrue(Files.exists(ca.resolve(org.vtpmback.backend.manufacture.LocalCa.KEY_FILE))
                && Files.exists(ca.resolve(org.vtpmback.backend.manufacture.LocalCa.CERT_FILE)),
                "the EK CA's folder, key and certificate must all be durable once created: " + listing(work.resolve("root")));
        org.vtpmback.backend.manufacture.LocalCa.loadOrCreate(ca); // loads, never mints a second CA
    }

    private static String listing(Path root) throws IOException {
        try (var all = Files.walk(root)) {
            return all.map(Path::toString).toList().toString();
        }
    }
}
