package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vtpmback cds-archive} with a real JVM: it makes an archive that a JVM with this class path maps, and says
 * why when it cannot. The launcher's two system properties are set here as the launcher sets them.
 */
class CdsArchiveCommandTest {
    @TempDir
    Path tmp;

    record Run(int status, String out, String err) {
    }

    @AfterEach
    void clearProperties() {
        System.clearProperty(ClassDataSharing.ARCHIVE_PROPERTY);
        System.clearProperty(ClassDataSharing.CLASS_LIST_PROPERTY);
    }

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(args, o, e, Lifecycle.JVM);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private void launcherNames(Path archive, Path classList) {
        System.setProperty(ClassDataSharing.ARCHIVE_PROPERTY, archive.toString());
        System.setProperty(ClassDataSharing.CLASS_LIST_PROPERTY, classList.toString());
    }

    @Test
    void onlyTheOptionsAnArchiveDependsOnGoToTheDump() {
        assertEquals(List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:-UseCompressedOops", "-XX:ObjectAlignmentInBytes=16"),
                CdsArchiveCommand.archiveOptions(List.of("-XX:+ExitOnOutOfMemoryError", "-Xmx256m",
                        "-XX:SharedArchiveFile=/var/cache/vtpmback/vtpmback.jsa", "-Xshare:auto", "-Dvtpmback.cds.archive=/x",
                        "-XX:+UseSerialGC", "-Xlog:class+load", "-XX:-UseCompressedOops", "-XX:TieredStopAtLevel=1",
                        "-XX:ObjectAlignmentInBytes=16", "-XX:DumpLoadedClassList=/tmp/l")));
    }

    /**
     * The archive holds the listed classes, and a JVM given it (with -Xshare:on: map it or fail) loads them from it.
     * The class path is one jar, as the launcher's is all jars: the JVM refuses to archive for a class path with
     * folders (this test JVM's own has target/classes).
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void makesAnArchiveThatAJvmWithThisClassPathMaps() throws Exception {
        Path classList = tmp.resolve("vtpmback.classlist");
        Files.writeString(classList, "java/lang/Object\njava/lang/String\npicocli/CommandLine\n");
        Path archive = tmp.resolve("cache").resolve("vtpmback.jsa");
        launcherNames(archive, classList);
        String picocli = Path.of(picocli.CommandLine.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String classPath = System.getProperty("java.class.path");
        System.setProperty("java.class.path", picocli);
        Run r;
        try {
            r = run("cds-archive");
        } finally {
            System.setProperty("java.class.path", classPath);
        }

        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("wrote " + archive + " ("), r.out());
        assertTrue(r.out().contains("class path of 1 jar(s)"), r.out());
        assertTrue(Files.isRegularFile(archive));
        try (var files = Files.list(archive.getParent())) {
            assertEquals(List.of(archive), files.toList(), "nothing left beside it");
        }
        var folder = Files.getPosixFilePermissions(archive.getParent());
        assertFalse(folder.contains(PosixFilePermission.GROUP_WRITE) || folder.contains(PosixFilePermission.OTHERS_WRITE),
                "its folder is writable by its owner only (the launcher refuses others): " + folder);
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:SharedArchiveFile=" + archive, "-Xshare:on", "-Xlog:class+load=info", "-cp", picocli, "-version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("java.lang.String source: shared objects file"), out);
    }

    @Test
    void withoutAClassListNoArchiveAndTheReason() {
        Path archive = tmp.resolve("vtpmback.jsa");
        launcherNames(archive, tmp.resolve("none.classlist"));

        Run r = run("cds-archive");

        assertEquals(Main.FAILURE, r.status());
        assertTrue(r.err().startsWith("vtpmback cds-archive: no class list at " + tmp.resolve("none.classlist")
                + ": this vtpmback was built without one"), r.err());
        assertFalse(Files.exists(archive));
        assertEquals(ClassDataSharing.State.NO_CLASS_LIST, ClassDataSharing.state());
    }

    @Test
    void outsideTheLauncherItSaysToUseIt() {
        Run r = run("cds-archive");

        assertEquals(Main.FAILURE, r.status());
        assertTrue(r.err().contains("run it through the launcher"), r.err());
        assertEquals(ClassDataSharing.State.NOT_CONFIGURED, ClassDataSharing.state());
        assertTrue(ClassDataSharing.advice(ClassDataSharing.State.NOT_CONFIGURED).isEmpty());
    }

    /** This test JVM was not started from the archive: missing, then there but not passed by the launcher. */
    @Test
    void anArchiveThisJvmWasNotGivenIsReported() throws Exception {
        Path classList = Files.writeString(tmp.resolve("vtpmback.classlist"), "java/lang/Object\n");
        Path archive = tmp.resolve("vtpmback.jsa");
        launcherNames(archive, classList);
        assertEquals(ClassDataSharing.State.MISSING, ClassDataSharing.state());
        assertTrue(ClassDataSharing.advice(ClassDataSharing.State.MISSING).orElseThrow()
                .contains("run 'vtpmback cds-archive'"));

        Files.writeString(archive, "not an archive");
        assertEquals(ClassDataSharing.State.UNTRUSTED, ClassDataSharing.state());
    }
}
