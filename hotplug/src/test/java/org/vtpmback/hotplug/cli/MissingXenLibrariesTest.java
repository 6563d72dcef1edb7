package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * check and daemon on a host without the Xen libraries, in a JVM of their own whose library path is an
 * empty folder (or one with libxenstore.so.4 but not what it links to). Failed before: a multi-line JNA
 * message with every folder searched and the whole class path.
 */
@Timeout(120)
class MissingXenLibrariesTest {
    @TempDir
    Path tmp;
    Path libs;

    record Run(int status, String out, String err) {
    }

    @BeforeEach
    void noSystemXen() throws Exception {
        Process ldconfig = new ProcessBuilder("sh", "-c", "ldconfig -p | grep -c 'libxen\\(store\\|gnttab\\)'").start();
        String found = new String(ldconfig.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        ldconfig.waitFor();
        assumeTrue(found.equals("0"), "the Xen libraries are installed system-wide here: they cannot be made missing");
        libs = Files.createDirectories(tmp.resolve("libs"));
    }

    private Run run(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djna.library.path=" + libs, "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.add(args[0]);
        for (String s : new String[] {"state-dir=" + tmp.resolve("state"), "runtime-dir=" + tmp.resolve("run"),
                "host=xen", "swtpm=" + (Files.isExecutable(Path.of("/bin/true")) ? "/bin/true" : "/usr/bin/true"),
                "xenstored-socket=" + tmp.resolve("no-xenstored.sock"), "log-level=error"}) {
            cmd.add("--set");
            cmd.add(s);
        }
        cmd.addAll(List.of(args).subList(1, args.length));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(tmp.resolve("out").toFile()).redirectError(tmp.resolve("err").toFile());
        pb.environment().put("LD_LIBRARY_PATH", libs.toString());
        Process p = pb.start();
        assertTrue(p.waitFor(100, TimeUnit.SECONDS), "exits");
        return new Run(p.exitValue(), Files.readString(tmp.resolve("out")), Files.readString(tmp.resolve("err")));
    }

    private static void oneLineNaming(String line, String soname, String debianPackage) {
        assertTrue(line.contains(soname + " is not available on this host (") && line.contains("apt install " + debianPackage),
                line);
        assertFalse(line.contains("Unable to load") || line.contains("resource path") || line.contains(".jar"), line);
    }

    @Test
    void daemonSaysInOneLineWhichPackageToInstall() throws Exception {
        Run r = run("daemon");
        assertEquals(Main.FAILURE, r.status(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("vtpmback daemon: cannot open host=xen: "), r.err());
        oneLineNaming(r.err().strip(), "libxengnttab.so.1", "libxengnttab1");
    }

    @Test
    void checkNamesThePackageOnEachXenLine() throws Exception {
        Run r = run("check");
        assertEquals(Main.FAILURE, r.status(), r.out() + r.err());
        assertEquals("", r.err());
        String xen = r.out().lines().filter(l -> l.startsWith("FAIL  xen: ")).findFirst().orElseThrow();
        oneLineNaming(xen, "libxengnttab.so.1", "libxengnttab1");
        String xenstored = r.out().lines().filter(l -> l.startsWith("FAIL  xenstored: ")).findFirst().orElseThrow();
        oneLineNaming(xenstored, "libxenstore.so.4", "libxenstore4");
    }

    /** libxenstore.so.4 is there, what it links to is not: the package to install is the dependency's. */
    @Test
    void aMissingDependencyNamesItsOwnPackage() throws Exception {
        Path xenLibs = Path.of(System.getProperty("xen.root", "/nonexistent"), "usr/lib/x86_64-linux-gnu");
        assumeTrue(Files.exists(xenLibs.resolve("libxenstore.so.4")), "no Xen libraries at -Dxen.root to copy from");
        Files.copy(xenLibs.resolve("libxenstore.so.4"), libs.resolve("libxenstore.so.4"));
        Run r = run("check");
        String xenstored = r.out().lines().filter(l -> l.startsWith("FAIL  xenstored: ")).findFirst().orElseThrow();
        oneLineNaming(xenstored, "libxenstore.so.4", "libxentoolcore1");
        assertTrue(xenstored.contains("(libxentoolcore.so.1: cannot open shared object file"), xenstored);
    }
}
