package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.backend.engine.TpmCommands.digest;
import static org.vtpmback.backend.engine.TpmCommands.pcrDigest;
import static org.vtpmback.backend.engine.TpmCommands.pcrExtendSha256;
import static org.vtpmback.backend.engine.TpmCommands.pcrReadSha256;
import static org.vtpmback.backend.engine.TpmCommands.rc;
import static org.vtpmback.backend.engine.TpmCommands.tpm12Extend;
import static org.vtpmback.backend.engine.TpmCommands.tpm12PcrRead;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A swtpm that outlived its daemon: found by its pid file and command line, its running TPM state
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
        assertEquals(Optional.of(Path.of("/run/v/x.sock.ctrl")), SwtpmSurvivor.ctrlSocketOf(args, Path.of("/run/v/instances/ab")));
        assertEquals(Optional.empty(), SwtpmSurvivor.ctrlSocketOf(args, Path.of("/run/v/instances/a")), "a prefix is not the dir");
        assertEquals(Optional.empty(), SwtpmSurvivor.ctrlSocketOf(List.of("--tpmstate", "dir=/run/v/instances/ab,mode=0600"),
                Path.of("/run/v/instances/ab")), "not a socket server with a ctrl channel");
    }
}
