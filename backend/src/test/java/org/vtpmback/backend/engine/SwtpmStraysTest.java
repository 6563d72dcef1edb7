package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Reading a process's uids and state out of its /proc status text, as the stray sweep at every start does. */
class SwtpmStraysTest {
    private static final String STATUS = "Name:\tswtpm\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\n"
            + "PPid:\t1\nTracerPid:\t0\nUid:\t0\t1879048200\t1879048200\t1879048200\nGid:\t0\t0\t0\t0\nFDSize:\t64\n";

    private static boolean jailRange(int uid) {
        return uid >= 1_879_048_192 && uid < 1_879_048_192 + 4096;
    }

    @Test
    void theFirstUidInTheRangeOfALiveProcess() {
        assertEquals(Optional.of(1_879_048_200), SwtpmStrays.jailUid(STATUS, SwtpmStraysTest::jailRange));
        assertEquals(Optional.empty(), SwtpmStrays.jailUid(STATUS.replace("1879048200", "1000"), SwtpmStraysTest::jailRange));
    }

    @Test
    void zombiesAndDeadProcessesAreNotStrays() {
        assertEquals(Optional.empty(), SwtpmStrays.jailUid(STATUS.replace("S (sleeping)", "Z (zombie)"), SwtpmStraysTest::jailRange));
        assertEquals(Optional.empty(), SwtpmStrays.jailUid(STATUS.replace("S (sleeping)", "X (dead)"), SwtpmStraysTest::jailRange));
    }

    /** The kernel escapes a newline in the name (the first line), so a name cannot forge a field. */
    @Test
    void aNameThatLooksLikeAFieldIsOnlyAName() {
        String forged = STATUS.replace("Name:\tswtpm", "Name:\tx\\\\nState:\\tZ\\\\nUid:\\t1879048300");
        assertEquals(Optional.of(1_879_048_200), SwtpmStrays.jailUid(forged, SwtpmStraysTest::jailRange));
        assertEquals(Optional.empty(), SwtpmStrays.jailUid("Name:\tx\n", SwtpmStraysTest::jailRange), "no Uid line");
    }

    /** This JVM's own status, as the kernel writes it: its real uid is found. */
    @Test
    void thisProcessAsTheKernelDescribesIt() throws Exception {
        String self = new String(Files.readAllBytes(Path.of("/proc/self/status")), StandardCharsets.ISO_8859_1);
        int uid = (Integer) Files.getAttribute(Path.of("/proc/self/status"), "unix:uid");
        assertEquals(Optional.of(uid), SwtpmStrays.jailUid(self, u -> u == uid));
    }
}
