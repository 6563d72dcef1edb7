package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.commons.io.file.PathUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A second process next to a running daemon ({@code vtpmback create}, {@code ek}) gives its jailed swtpm uids
 * from the top of the range, past every uid a live process holds: never the uid of a daemon's swtpm, which
 * would let one read the other's memory through {@code /proc}. Real jailed swtpm; needs root, like the jail.
 */
@Timeout(120)
class SecondProcessUidsTest {
    private static final int COUNT = 4;
    private Path tmp;
    private EngineFixture daemon;
    private EngineFixture command;
    private EngineFixture secondCommand;
    private SwtpmJail jail;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(SwtpmSurvivor.uidsOf(Path.of("/proc/self")).get(1) == 0, "the jail needs root");
        tmp = Files.createTempDirectory(Path.of("/run"), "vtpmback-uids-");
        // as /run: each jailed swtpm (a uid of its own) must reach its folder below
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path run = Files.createDirectories(tmp.resolve("run"));
        SwtpmJail d = SwtpmJail.defaults(List.of(tmp.resolve("state")));
        // a range of this JVM's own: other test JVMs' daemons kill every process in theirs
        int base = SwtpmJail.DEFAULT_FIRST_UID + SwtpmJail.DEFAULT_UID_COUNT * (int) (1 + ProcessHandle.current().pid() % 4096);
        jail = new SwtpmJail(base, COUNT, d.hidden(), d.maxFileSize(), d.maxAddressSpace(), d.maxOpenFiles());
        daemon = new EngineFixture(run, SwtpmConfig.defaults(run).withJail(jail));
    }

    @AfterEach
    void tearDown() throws IOException {
        for (EngineFixture f : new EngineFixture[] {secondCommand, command, daemon}) {
            if (f != null) {
                f.close();
            }
        }
        if (tmp != null) {
            PathUtils.deleteDirectory(tmp);
        }
    }

    private static int uidOf(SwtpmEngine e) throws IOException {
        return SwtpmSurvivor.uidsOf(Path.of("/proc/" + e.pid())).get(1);
    }

    @Test
    void aSecondProcessTakesUidsFromTheTopPastEveryLiveOne() throws Exception {
        Path run = tmp.resolve("run");
        SwtpmEngine guest = daemon.start("vtpm-a", TpmFamily.TPM2, "a");
        assertEquals(jail.firstUid(), uidOf(guest), "the daemon: lowest first");

        // another process's swtpm holds the top uid: a second command (a new launcher) must skip it
        command = new EngineFixture(run, SwtpmConfig.defaults(run).withJail(jail), true);
        SwtpmEngine created = command.start("new-b", TpmFamily.TPM2, "b");
        assertEquals(jail.firstUid() + COUNT - 1, uidOf(created), "a second process: highest first");
        secondCommand = new EngineFixture(run, SwtpmConfig.defaults(run).withJail(jail), true);
        SwtpmEngine read = secondCommand.start("read-c", TpmFamily.TPM2, "c");
        assertEquals(jail.firstUid() + COUNT - 2, uidOf(read), "the top uid is held by a live swtpm");

        // and the daemon's own uid is skipped when the second process comes down to it
        secondCommand.close();
        secondCommand = null;
        EngineFixture crowded = new EngineFixture(run, SwtpmConfig.defaults(run).withJail(jail), true);
        try {
            assertEquals(jail.firstUid() + 2, uidOf(crowded.start("read-d", TpmFamily.TPM2, "d")));
            assertEquals(jail.firstUid() + 1, uidOf(crowded.start("read-e", TpmFamily.TPM2, "e")));
            EngineException full = assertThrows(EngineException.class, () -> crowded.start("read-f", TpmFamily.TPM2, "f"));
            assertTrue(full.getMessage().contains("all 4 swtpm uids"), full.getMessage());
        } finally {
            crowded.close();
        }
    }
}
