package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lock names its holder and is free again once released. That a second process is refused is
 * DaemonCrashTest's part (a lock is per process, so one JVM cannot show it).
 */
class DaemonLockTest {
    @TempDir
    Path stateDir;

    @Test
    void theLockFileNamesTheHolderAndIsFreeAfterClose() throws Exception {
        try (DaemonLock lock = DaemonLock.acquire(stateDir)) {
            assertEquals(ProcessHandle.current().pid() + "\n", Files.readString(stateDir.resolve(DaemonLock.FILE)));
        }
        try (DaemonLock again = DaemonLock.acquire(stateDir)) {
            assertEquals(ProcessHandle.current().pid() + "\n", Files.readString(stateDir.resolve(DaemonLock.FILE)));
        }
    }
}
