package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.PersistentInstances;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.SimulatedVtpmHost;

/**
 * A process of the jail's uid range that a crashed daemon left and that is not a trustworthy swtpm
 * (here a {@code sleep} passing itself off through the pid file, as a swtpm that rewrote its argv
 * would) is killed at recovery before its runtime folder is removed; that removal follows no symlink
 * planted in the folder, so nothing in the state dir is touched.
 */
@Timeout(120)
class JailStrayTest {
    private static final String UUID = "5b1f9a3e-4c2d-4e8f-9a6b-7c3d2e1f0a9b";

    @TempDir
    Path work;

    @Test
    void untrustedSurvivorIsKilledAndItsSymlinksAreNotFollowed() throws Exception {
        assumeTrue(DaemonProcess.isRoot(), "the jail needs root");
        SwtpmJail jail = SimulatedVtpmHost.testJail(work);
        int uid = jail.firstUid() + 7;
        Path state = Files.createDirectories(work.resolve("state/instances"));
        Path masterKey = work.resolve("state/master.key");
        InstanceStore store = new InstanceStore(state, MasterKey.loadOrCreate(masterKey, state));
        Path victim = Files.writeString(state.resolve("other-guest.sealed"), "sealed record of another guest");
        Path runtime = Files.createDirectories(work.resolve("run/instances"));
        Path leftover = Files.createDirectories(runtime.resolve(UUID));
        Files.createSymbolicLink(leftover.resolve("key"), masterKey);
        Files.createSymbolicLink(leftover.resolve("records"), state);
        Files.createSymbolicLink(Files.createDirectories(leftover.resolve("sub")).resolve("victim"), victim);
        Process stray = new ProcessBuilder("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "sleep", "600")
                .redirectErrorStream(true).start();
        try {
            waitForUid(stray.pid(), uid);
            Files.writeString(leftover.resolve("swtpm.pid"), stray.pid() + "\n");
            chown(leftover, uid);
            PersistentInstances instances = new PersistentInstances(store,
                    new SwtpmLauncher(SwtpmConfig.defaults(Files.createDirectories(work.resolve("run"))).withJail(jail)),
                    runtime, u -> TpmFamily.TPM2, (engine, u) -> { }, domid -> Optional.empty(), Duration.ofSeconds(30));

            assertEquals(0, instances.recoverAfterCrash(), "a sleep is never taken over");

            assertTrue(stray.waitFor(30, TimeUnit.SECONDS), "the untrusted survivor was killed");
            assertFalse(Files.exists(leftover, LinkOption.NOFOLLOW_LINKS), "its folder was removed");
            assertTrue(Files.isRegularFile(masterKey), "the master key is still there");
            assertEquals("sealed record of another guest", Files.readString(victim, StandardCharsets.UTF_8));
        } finally {
            stray.destroyForcibly();
            stray.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static void chown(Path dir, int uid) throws IOException {
        Files.setAttribute(dir, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(dir, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
    }

    private static void waitForUid(long pid, int uid) throws IOException, InterruptedException {
        Path status = Path.of("/proc", Long.toString(pid), "status");
        for (int i = 0; i < 1000; i++) {
            for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
                if (line.startsWith("Uid:") && line.substring(4).trim().startsWith(uid + "\t")) {
                    return;
                }
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("setpriv did not switch pid " + pid + " to uid " + uid);
    }
}
