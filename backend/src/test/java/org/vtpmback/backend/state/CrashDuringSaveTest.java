package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a process in the middle of saving, at 60 random points: afterwards the instance always
 * loads, with the last generation the process reported committed or the one it was writing.
 */
class CrashDuringSaveTest {
    static final int KILLS = 60;

    @TempDir
    Path dir;

    @Test
    @Timeout(300)
    void instanceAlwaysLoadsWithOldOrNewStateAfterSigkill() throws Exception {
        Uuid uuid = InstanceStoreTest.UUID_A;
        Random random = new Random(20261127);
        long next = 1;
        int killedMidRun = 0;
        String line;
        for (int i = 0; i < KILLS; i++) {
            Process child = new ProcessBuilder(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                    SaveLoop.class.getName(), dir.toString(), uuid.value(), Long.toString(next)))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            line = out.readLine();
            assertTrue("ready".equals(line), "child did not start: " + line);
            // Wait for the first save of this run, so the kill lands while saves are streaming, then
            // let it run a random 0-20 ms more: the kill hits a random point of a write/fsync/rename.
            long lastCommitted = Long.parseLong(out.readLine().trim());
            long deadline = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(random.nextInt(20_000));
            while (System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            // SIGKILL from outside: Process.destroyForcibly() would also close our end of its stdout,
            // losing the generations it reported just before dying.
            new ProcessBuilder("kill", "-9", Long.toString(child.pid())).start().waitFor();
            child.waitFor();
            while ((line = out.readLine()) != null) {
                if (line.matches("\\d+")) {
                    lastCommitted = Long.parseLong(line); // printed before the kill landed
                }
            }
            InstanceStore store = new InstanceStore(dir.resolve("instances"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
            InstanceRecord loaded = store.load(uuid).orElse(null);
            assertTrue(loaded != null, "kill " + i + ": instance vanished after generation " + lastCommitted);
            long g = loaded.generation();
            assertTrue(g == lastCommitted || g == lastCommitted + 1,
                    "kill " + i + ": loaded generation " + g + " but last committed was " + lastCommitted);
            assertArrayEquals(InstanceStoreTest.record(uuid, g, 6000 + (int) (g % 4000)).permanent(), loaded.permanent());
            if (g > lastCommitted) {
                killedMidRun++; // the save in flight had already been renamed into place
            }
            next = g + 1;
        }
        System.out.printf("crash test: %d kills during saves, %d found the in-flight save committed, final generation %d%n",
                KILLS, killedMidRun, next - 1);
    }
}
