package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;
import static org.vtpmback.backend.engine.TpmCommands.tpm12Extend;
import static org.vtpmback.backend.engine.TpmCommands.tpm12PcrRead;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A swtpm that outlived its daemon: found by its pid file, trusted by uid, executable and folder, its running TPM state
 * taken and carried into a new engine, the process stopped. The daemon's death is played by closing
 * both of the engine's connections without stopping swtpm, which is what the kernel does for a
 * killed process.
 */
@Timeout(60)
class SwtpmSurvivorTest {
    @TempDir
    Path tmp;
    private EngineFixture fixture;
    private SwtpmLauncher launcher;

    @BeforeEach
    void setUp() {
        fixture = new EngineFixture(tmp);
        launcher = new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run")));
    }

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    private static void daemonDies(SwtpmEngine engine) {
        engine.ctrl().close();
        engine.data().close();
    }

    @Test
    void runningTpm2StateIsTakenOverExactly() {
        SwtpmEngine old = fixture.booted("old", TpmFamily.TPM2, "a");
        assertEquals(0, rc(old.execute(0, pcrExtendSha256(16, digest(7)))));
        byte[] pcr = pcrDigest(old.execute(0, pcrReadSha256(16)));
        long pid = old.pid();
        daemonDies(old);
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "swtpm outlives its daemon");

        StateBlobs taken = launcher.takeOverSurvivor(fixture.stateDir("a")).orElseThrow();

        assertTrue(taken.volatileState().isPresent(), "a running TPM has volatile state");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the survivor was stopped");
        SwtpmEngine next = fixture.start("next", TpmFamily.TPM2, "a");
        next.restoreState(taken);
        assertArrayEquals(pcr, pcrDigest(next.execute(0, pcrReadSha256(16))), "PCR 16 as the guest left it");
        assertEquals(Optional.empty(), launcher.takeOverSurvivor(fixture.stateDir("b")), "nothing runs on another dir");
    }

    @Test
    void runningTpm12StateIsTakenOverExactly() {
        SwtpmEngine old = fixture.booted("old12", TpmFamily.TPM12, "a");
        assertEquals(0, rc(old.execute(0, tpm12Extend(16, Arrays.copyOf(digest(3), 20)))));
        byte[] pcr = old.execute(0, tpm12PcrRead(16));
        daemonDies(old);

        StateBlobs taken = launcher.takeOverSurvivor(fixture.stateDir("a")).orElseThrow();

        SwtpmEngine next = fixture.start("next12", TpmFamily.TPM12, "a");
        next.restoreState(taken);
        assertArrayEquals(pcr, next.execute(0, tpm12PcrRead(16)));
    }

    @Test
    void aSurvivorWhoseTpmNeverRanIsStoppedWithNothingToHandOver() {
        SwtpmEngine old = fixture.start("cold", TpmFamily.TPM2, "a");
        long pid = old.pid();
        daemonDies(old);

        assertEquals(Optional.empty(), launcher.takeOverSurvivor(fixture.stateDir("a")));
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the survivor was stopped");
    }

    @Test
    void aPidFileNamingAnotherProcessIsNotTrusted() throws Exception {
        // a recycled pid: the process that has it now is not a swtpm on this state dir
        Path dir = Files.createDirectories(tmp.resolve("state-x"));
        Files.writeString(dir.resolve(SwtpmSurvivor.PID_FILE), ProcessHandle.current().pid() + "\n");
        assertEquals(Optional.empty(), launcher.takeOverSurvivor(dir));
        Files.writeString(dir.resolve(SwtpmSurvivor.PID_FILE), "not a pid");
        assertEquals(Optional.empty(), launcher.takeOverSurvivor(dir));
        Files.writeString(dir.resolve(SwtpmSurvivor.PID_FILE), "999999999");
        assertEquals(Optional.empty(), launcher.takeOverSurvivor(dir));
    }

    @Test
    void theCommandLineMustRunOnExactlyThatStateDir() {
        List<String> args = List.of("socket", "--tpm2", "--tpmstate", "dir=/run/v/instances/ab,mode=0600",
                "--ctrl", "type=unixio,path=/run/v/x.sock.ctrl,mode=0600");
        assertTrue(SwtpmSurvivor.runsOn(args, Path.of("/run/v/instances/ab")));
        assertFalse(SwtpmSurvivor.runsOn(args, Path.of("/run/v/instances/a")), "a prefix is not the dir");
        assertFalse(SwtpmSurvivor.runsOn(List.of("--tpmstate", "dir=/run/v/instances/ab,mode=0600"),
                Path.of("/run/v/instances/ab")), "not a socket server");
    }

    /**
     * Another program dressed up as swtpm: its command line names the folder exactly as the launcher
     * builds it, but /proc/pid/exe is a shell. Before the exe check it was trusted, its "ctrl socket"
     * (taken from its command line) was connected, and it was killed.
     */
    @Test
    void aProcessWithTheRightCommandLineButAnotherExecutableIsLeftAlone() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("state-x"));
        Process fake = new ProcessBuilder("sh", "-c", "while :; do sleep 1; done", "socket", "--tpm2", "--tpmstate",
                "dir=" + dir + ",mode=0600", "--ctrl", "type=unixio,path=" + SwtpmCommand.ctrlSocket(dir) + ",mode=0600")
                .start();
        try {
            Files.writeString(dir.resolve(SwtpmSurvivor.PID_FILE), fake.pid() + "\n");
            assertTrue(SwtpmSurvivor.runsOn(ProcessHandle.of(fake.pid()).orElseThrow().info().arguments()
                    .map(a -> List.of(a).subList(2, a.length)).orElseThrow(), dir), "the command line alone would pass");

            assertEquals(Optional.empty(), launcher.takeOverSurvivor(dir));
            assertTrue(fake.isAlive(), "a process that is not the daemon's swtpm is not killed");
        } finally {
            fake.destroyForcibly().waitFor();
        }
    }

    /** A real swtpm on the folder, with the launcher's exact arguments, but running as another user. */
    @Test
    void aSwtpmRunningAsAnotherUserIsLeftAlone() throws Exception {
        assumeTrue(SwtpmSurvivor.uidsOf(Path.of("/proc/self")).get(1) == 0, "needs root to run swtpm as another user");
        Path dir = Files.createDirectories(tmp.resolve("state-y"));
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Process other = new ProcessBuilder("setpriv", "--reuid=54321", "--regid=54321", "--clear-groups",
                "swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + dir + ",mode=0600",
                "--server", "type=unixio,path=" + SwtpmCommand.dataSocket(dir) + ",mode=0600",
                "--ctrl", "type=unixio,path=" + SwtpmCommand.ctrlSocket(dir) + ",mode=0600",
                "--pid", "file=" + dir.resolve(SwtpmSurvivor.PID_FILE), "--flags", "not-need-init,startup-clear")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("other.log").toFile()).start();
        try {
            for (int i = 0; i < 500 && !Files.exists(dir.resolve(SwtpmSurvivor.PID_FILE)); i++) {
                Thread.sleep(10);
            }
            assertTrue(other.isAlive(), "swtpm as uid 54321 runs: " + Files.readString(tmp.resolve("other.log")));

            assertEquals(Optional.empty(), launcher.takeOverSurvivor(dir));
            assertTrue(other.isAlive(), "not the daemon's swtpm: not stopped, its state not taken");
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    @Test
    void aSymlinkedFolderIsNotTrusted() throws Exception {
        SwtpmEngine old = fixture.booted("old", TpmFamily.TPM2, "a");
        daemonDies(old);
        Path link = Files.createSymbolicLink(tmp.resolve("link"), fixture.stateDir("a"));

        assertEquals(Optional.empty(), launcher.takeOverSurvivor(link));
        assertTrue(old.isAlive() || ProcessHandle.of(old.pid()).map(ProcessHandle::isAlive).orElse(false));
    }
}
