package org.vtpmback.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.xen.XenErrnoException;

/** Real processes, the real libc and kernel: started with posix_spawn, their exits seen by one thread. */
@Timeout(60)
class ProcessExitsTest {
    private static final Path SH = Path.of("/bin/sh");
    private static final long WAIT_S = 20;

    @TempDir
    Path dir;

    private WatchedProcess sh(ProcessExits exits, String script) {
        return exits.spawn(SH, List.of("sh", "-c", script), Map.of("PATH", "/usr/bin:/bin"), dir.resolve("out"));
    }

    @Test
    void aChildThatExitsIsReapedWithItsExitCode() throws Exception {
        ProcessExits exits = new ProcessExits("test-exits-code");
        WatchedProcess p = sh(exits, "exit 3");
        assertEquals(new ExitStatus(ExitStatus.Kind.EXITED, 3), p.onExit().get(WAIT_S, TimeUnit.SECONDS));
        assertFalse(p.isAlive());
        assertEquals("exit code 3", p.exitStatus().orElseThrow().describe());
        assertFalse(Files.exists(Path.of("/proc/" + p.pid())), "reaped: no zombie left");
        assertEquals(0, exits.watching());
    }

    @Test
    void aKilledChildReportsTheSignalAndKillAfterTheExitDoesNothing() throws Exception {
        ProcessExits exits = new ProcessExits("test-exits-kill");
        WatchedProcess p = sh(exits, "exec sleep 60");
        assertTrue(p.isAlive());
        p.kill();
        assertEquals(new ExitStatus(ExitStatus.Kind.KILLED, 9), p.onExit().get(WAIT_S, TimeUnit.SECONDS));
        p.kill(); // its pidfd is closed: no signal goes anywhere, no error
    }

    @Test
    void manyChildrenShareOneThreadAndEachExitCompletesItsOwnFuture() throws Exception {
        ProcessExits exits = new ProcessExits("test-exits-many");
        List<WatchedProcess> all = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            all.add(sh(exits, i % 2 == 0 ? "exec sleep 60" : "exit " + i));
        }
        for (int i = 1; i < all.size(); i += 2) {
            assertEquals(i, all.get(i).onExit().get(WAIT_S, TimeUnit.SECONDS).value());
        }
        assertEquals(30, exits.watching());
        assertEquals(1, threadsNamed("test-exits-many"));
        all.forEach(WatchedProcess::kill);
        CompletableFuture.allOf(all.stream().map(WatchedProcess::onExit).toArray(CompletableFuture[]::new))
                .get(WAIT_S, TimeUnit.SECONDS);
        assertEquals(0, exits.watching());
        assertEquals(1, threadsNamed("test-exits-many"), "the thread stays for the next process");
    }

    @Test
    void aChildThatExitedBeforeItWasWatchedIsStillReaped() throws Exception {
        long pid = Spawn.spawn(SH, List.of("sh", "-c", "exit 7"), Map.of(), dir.resolve("out"));
        Path stat = Path.of("/proc/" + pid + "/stat");
        while (!Files.readString(stat).contains(") Z ")) {
            Thread.sleep(10); // a zombie: exited, not reaped
        }
        WatchedProcess p = new ProcessExits("test-exits-late").watchChild(pid);
        assertEquals(new ExitStatus(ExitStatus.Kind.EXITED, 7), p.onExit().get(WAIT_S, TimeUnit.SECONDS));
        assertFalse(Files.exists(stat));
    }

    @Test
    void aProcessThatIsNotAChildIsSeenToExitWithAnUnknownStatus() throws Exception {
        Process other = new ProcessBuilder("sleep", "60").start(); // the JDK's child, reaped by the JDK
        ProcessExits exits = new ProcessExits("test-exits-foreign");
        WatchedProcess p = exits.watch(other.pid());
        assertTrue(p.isAlive());
        p.kill();
        assertEquals(ExitStatus.UNKNOWN, p.onExit().get(WAIT_S, TimeUnit.SECONDS));
        assertEquals(137, other.waitFor(), "its parent still gets its status");
        assertFalse(exits.watch(other.pid()).isAlive(), "a pid that is gone is returned exited");
    }

    @Test
    void theChildGetsExactlyItsEnvironmentNoOtherDescriptorAndItsOutputAppended() throws Exception {
        Path out = dir.resolve("log");
        Files.writeString(out, "before\n");
        try (var held = Files.newByteChannel(dir.resolve("held"), java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE)) {
            WatchedProcess p = new ProcessExits("test-exits-fds").spawn(SH, List.of("sh", "-c",
                    "env; ls /proc/$$/fd; echo err >&2; read x || echo eof"), Map.of("A", "1"), out);
            assertEquals(0, p.onExit().get(WAIT_S, TimeUnit.SECONDS).value());
        }
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals("before", lines.get(0));
        // sh adds PWD (and may add others it sets itself); the daemon's own environment never shows
        assertTrue(lines.contains("A=1"), lines.toString());
        assertFalse(lines.stream().anyMatch(l -> l.startsWith("HOME=") || l.startsWith("JAVA")), lines.toString());
        int from = lines.indexOf("0");
        assertEquals(List.of("0", "1", "2"), lines.subList(from, from + 3), lines.toString());
        assertFalse(lines.subList(from + 3, lines.size()).stream().anyMatch(l -> l.matches("[0-9]+")),
                "no descriptor of the JVM beyond 0-2: " + lines);
        assertTrue(lines.contains("err") && lines.contains("eof"), lines.toString());
    }

    @Test
    void aMissingExecutableIsReportedByPosixSpawn() {
        XenErrnoException e = assertThrows(XenErrnoException.class, () -> new ProcessExits("test-exits-missing")
                .spawn(dir.resolve("no-such"), List.of("no-such"), Map.of(), dir.resolve("out")));
        assertEquals("posix_spawn", e.call());
        assertTrue(e.getMessage().contains("ENOENT"), e.getMessage());
    }

    private static long threadsNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).count();
    }
}
