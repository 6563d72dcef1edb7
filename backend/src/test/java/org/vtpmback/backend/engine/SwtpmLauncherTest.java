package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Launcher failures: they must be prompt, and name the instance and the cause. */
@Timeout(30)
class SwtpmLauncherTest {
    @Test
    void badInstanceNamesAreRejected(@TempDir Path other) {
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(other.resolve("run")));
        for (String bad : new String[] {"", "a/b", "../x", "a b"}) {
            assertThrows(IllegalArgumentException.class, () -> launcher.create(bad, TpmFamily.TPM2, other.resolve("st")));
        }
    }

    @Test
    void missingBinaryFailsWithEngineException(@TempDir Path other) {
        SwtpmLauncher launcher = new SwtpmLauncher(
                SwtpmConfig.defaults(other.resolve("run")).withSwtpmBinary("/nonexistent/swtpm"));
        assertThrows(EngineException.class, () -> launcher.create("x", TpmFamily.TPM2, other.resolve("st")));
    }

    @Test
    void swtpmThatExitsAtStartIsReportedWithItsLog(@TempDir Path other) {
        // "false" exits 1 at once: the launcher must notice instead of waiting out the start timeout
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(other.resolve("run")).withSwtpmBinary("false"));
        EngineException ex = assertThrows(EngineException.class,
                () -> launcher.create("x", TpmFamily.TPM2, other.resolve("st")));
        assertTrue(ex.getMessage().contains("exit code 1"), ex.getMessage());
    }

    @Test
    void theJailNeverCoversWhatSwtpmNeedsNorAFolderTwice(@TempDir Path other) {
        SwtpmJail jail = SwtpmJail.defaults(java.util.List.of(Path.of("/"), Path.of("/usr"), other, other.resolve("x"),
                Path.of("/nonexistent-vtpmback")));
        java.util.List<Path> covered = jail.coveredPaths();
        assertTrue(covered.contains(Path.of("/tmp")), covered.toString());
        assertTrue(covered.stream().noneMatch(p -> p.equals(Path.of("/")) || p.equals(Path.of("/usr"))), covered.toString());
        assertTrue(covered.stream().noneMatch(p -> p.startsWith(Path.of("/tmp")) && !p.equals(Path.of("/tmp"))),
                "inside /tmp, covered with it: " + covered);
        assertTrue(covered.stream().noneMatch(p -> p.toString().startsWith("/nonexistent")), covered.toString());
    }
}
