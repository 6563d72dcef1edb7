package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What swtpm leaves in the runtime-dir (a tmpfs in dom0) beside its folder, on real swtpm, jailed (as root, as the
 * daemon runs it) and unconfined: after any number of starts and stops of one vTPM under ever new domain ids (a guest
 * rebooting in a loop) and of many vTPMs, nothing; no jail mount table once swtpm runs, nor after a failed start; the
 * log of a swtpm that failed or wrote anything kept, the newest {@value SwtpmRuntimeFiles#KEPT_LOGS} only; the log of
 * a swtpm left to the next daemon kept until that daemon stops it or closes the engine it took over; at a daemon's
 * start, the files of every swtpm it does not hold ended.
 */
@Timeout(300)
class SwtpmRuntimeFilesTest {
    private static final boolean ROOT = isRoot();
    /** Under /run, as SwtpmJailTest: /tmp is hidden from a jailed swtpm as a whole. */
    private Path tmp;
    private Path run;

    @BeforeEach
    void setUp() throws IOException {
        tmp = Files.createTempDirectory(ROOT ? Path.of("/run") : Path.of(System.getProperty("java.io.tmpdir")), "vtpmback-rt-");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        run = Files.createDirectories(tmp.resolve("run"));
    }

    @AfterEach
    void tearDown() throws IOException {
        org.apache.commons.io.file.PathUtils.deleteDirectory(tmp);
    }

    private static boolean isRoot() {
        try {
            return SwtpmSurvivor.uidsOf(Path.of("/proc/self")).get(1) == 0;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Jailed when root (the daemon's default), else unconfined; the unconfined one always. */
    private List<SwtpmConfig> configs() {
        SwtpmConfig plain = SwtpmConfig.defaults(run);
        List<SwtpmConfig> all = new ArrayList<>(List.of(plain));
        if (ROOT) {
            all.add(plain.withJail(SwtpmJail.defaults(List.of(tmp.resolve("state"), run))));
        }
        return all;
    }

    private String mode(SwtpmConfig c) {
        return c.jail().isPresent() ? "jailed" : "unconfined";
    }

    /** The runtime-dir's own files (the vTPM folders are elsewhere in this test), names only. */
    private Set<String> files() throws IOException {
        try (Stream<Path> all = Files.list(run)) {
            return all.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private Set<String> keptLogs() throws IOException {
        Path failed = run.resolve(SwtpmRuntimeFiles.KEPT);
        if (!Files.isDirectory(failed)) {
            return Set.of();
        }
        try (Stream<Path> all = Files.list(failed)) {
            return all.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private Path folder(String vtpm) throws IOException {
        return Files.createDirectories(tmp.resolve("state").resolve(vtpm));
    }

    @Test
    void startsAndStopsOfOneVtpmUnderNewDomainIdsAndOfManyVtpmsLeaveNoFile() throws Exception {
        for (SwtpmConfig config : configs()) {
            SwtpmLauncher launcher = new SwtpmLauncher(config);
            for (int i = 0; i < 12; i++) {
                // a reboot loop: the same vTPM, a new domain id each time (Xen never reuses one soon); and new vTPMs
                String vtpm = i % 2 == 0 ? "aaaaaaaa" : "b" + i;
                String name = "vtpm-" + vtpm + "-d" + (10 + i);
                TpmEngine e = launcher.create(name, TpmFamily.TPM2, folder(vtpm));
                if (i % 3 != 0) { // else as an engine spawned at InitWait and discarded before the connect: never INITed
                    e.initClear();
                    assertEquals(0, e.sendStartupClear());
                }
                assertEquals(Set.of(name + ".log"), files(), mode(config) + ": while it runs, its log and no mount table");
                e.close();
                assertEquals(Set.of(), files(), mode(config) + ": " + name + " stopped cleanly leaves nothing");
            }
            assertEquals(Set.of(), keptLogs(), mode(config));
        }
    }

    @Test
    void aFailedStartLeavesNoMountTableAndKeepsItsLog() throws Exception {
        for (SwtpmConfig config : configs()) {
            // "false" is in /usr/bin, which the jail shows: the jail runs it, and it exits 1 at once
            SwtpmLauncher launcher = new SwtpmLauncher(config.withSwtpmBinary("false"));
            String name = "vtpm-cccccccc-d7-" + mode(config);
            assertThrows(EngineException.class, () -> launcher.create(name, TpmFamily.TPM2, folder("c")));
            assertEquals(Set.of(), files(), mode(config) + ": no mount table, no log left in the runtime-dir");
            assertTrue(keptLogs().stream().anyMatch(f -> f.startsWith(name + "-")), mode(config) + ": " + keptLogs());
        }
    }

    @Test
    void theLogsOfFailedSwtpmAreKeptTheNewestOnly() throws Exception {
        SwtpmLauncher launcher = new SwtpmLauncher(configs().get(configs().size() - 1));
        List<String> kept = new ArrayList<>();
        int failures = SwtpmRuntimeFiles.KEPT_LOGS + 3;
        for (int i = 0; i < failures; i++) {
            // a guest that makes its swtpm die (a libtpms crash, a hang ended by the response timeout), in a loop
            String name = "vtpm-dddddddd-d" + (100 + i);
            SwtpmEngine e = (SwtpmEngine) launcher.create(name, TpmFamily.TPM2, folder("d"));
            long pid = e.pid();
            e.abort();
            e.close();
            kept.add(name + "-" + pid + ".log");
            assertFalse(files().contains(name + ".log"), name);
        }
        assertEquals(new TreeSet<>(kept.subList(failures - SwtpmRuntimeFiles.KEPT_LOGS, failures)), keptLogs());
        assertEquals(Set.of(), files());
    }

    @Test
    void theLogOfASwtpmThatWroteSomethingIsKeptThoughItEndedCleanly() throws Exception {
        SwtpmLauncher launcher = new SwtpmLauncher(SwtpmConfig.defaults(run));
        String name = "vtpm-abababab-d9";
        SwtpmEngine e = (SwtpmEngine) launcher.create(name, TpmFamily.TPM2, folder("h"));
        // at level 1 swtpm writes errors only (nothing in a normal run): played here by a line in its log
        Files.writeString(run.resolve(name + ".log"), "an error swtpm reported\n", java.nio.file.StandardOpenOption.APPEND);
        long pid = e.pid();
        e.close();
        assertEquals(Set.of(), files());
        assertEquals(Set.of(name + "-" + pid + ".log"), keptLogs());
        assertEquals("an error swtpm reported\n", Files.readString(run.resolve(SwtpmRuntimeFiles.KEPT).resolve(name + "-" + pid + ".log")));
    }

    @Test
    void aDaemonStartEndsTheFilesOfEverySwtpmItDoesNotHold() throws Exception {
        // unconfined only: a jailed launcher's stray sweep kills every process in the default uid range, which
        // other tests on this host may be using
        SwtpmConfig config = SwtpmConfig.defaults(run);
        TpmEngine kept = new SwtpmLauncher(config).create("vtpm-ffffffff-d4", TpmFamily.TPM2, folder("f"));
        kept.detach(); // a crash: this one lives on, and is held by the next daemon
        SwtpmEngine gone = (SwtpmEngine) new SwtpmLauncher(config).create("vtpm-99999999-d5", TpmFamily.TPM2, folder("g"));
        gone.detach();
        EngineFixture.signal(gone.pid(), "KILL"); // this one died with the daemon
        Files.writeString(run.resolve("vtpm-88888888-d6.mounts"), "a spawn the crash cut short\n");

        SwtpmLauncher next = new SwtpmLauncher(config);
        SurvivingEngine held = next.survivor(folder("f")).orElseThrow();
        next.stopStrays();

        assertEquals(Set.of("vtpm-ffffffff-d4.log"), files(), "only the held swtpm's log");
        assertEquals(Set.of("vtpm-99999999-d5-0.log"), keptLogs(), "the dead one's, kept as failed (pid unknown)");
        held.stop();
        assertEquals(Set.of(), files());
    }

    @Test
    void aSwtpmLeftToTheNextDaemonKeepsItsLogUntilThatDaemonStopsIt() throws Exception {
        for (SwtpmConfig config : configs()) {
            String name = "vtpm-eeeeeeee-d3";
            TpmEngine left = new SwtpmLauncher(config).create(name, TpmFamily.TPM2, folder("e"));
            left.detach(); // the daemon stops (or dies) under a running guest
            assertEquals(Set.of(name + ".log"), files(), mode(config));

            SurvivingEngine found = new SwtpmLauncher(config).survivor(folder("e")).orElseThrow();
            found.stop(); // nobody re-attached: the next daemon stops it
            assertEquals(Set.of(), files(), mode(config) + ": the log found from its stdout, removed with it");

            TpmEngine again = new SwtpmLauncher(config).create(name, TpmFamily.TPM2, folder("e"));
            again.detach();
            TpmEngine adopted = new SwtpmLauncher(config).survivor(folder("e")).orElseThrow().adopt(name, TpmFamily.TPM2);
            assertEquals(Set.of(name + ".log"), files(), mode(config) + ": taken over with its log");
            adopted.close();
            assertEquals(Set.of(), files(), mode(config));
            assertEquals(Set.of(), keptLogs(), mode(config));
        }
    }
}
