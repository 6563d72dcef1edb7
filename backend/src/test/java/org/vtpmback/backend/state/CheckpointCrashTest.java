package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a process streaming checkpoints of several vTPMs through the commit log (group commit), at 40 random
 * points: afterwards every vTPM loads with the last generation the process reported durable or the one it was
 * writing, read by the next daemon's store (which folds the log) or by a second process's (which reads it).
 */
class CheckpointCrashTest {
    static final int KILLS = 40;
    static final int VTPMS = 4;

    @TempDir
    Path dir;

    @Test
    @Timeout(300)
    void everyAcknowledgedCheckpointSurvivesSigkill() throws Exception {
        MasterKey.create(dir.resolve("master.key"));
        Random random = new Random(20261203);
        Map<Uuid, Long> acked = new HashMap<>();
        int inFlightFound = 0;
        for (int kill = 0; kill < KILLS; kill++) {
            Process child = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                    CheckpointLoop.class.getName(), dir.toString(), Integer.toString(VTPMS)))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertTrue("ready".equals(line), "child did not start: " + line);
            int seen = 0;
            while (seen < 3 && (line = out.readLine()) != null) { // checkpoints are streaming: kill within 0-30 ms
                record(acked, line);
                seen++;
            }
            long deadline = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(random.nextInt(30_000));
            while (System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            new ProcessBuilder("kill", "-9", Long.toString(child.pid())).start().waitFor();
            child.waitFor();
            while ((line = out.readLine()) != null) {
                record(acked, line); // printed before the kill landed
            }
            MasterKey key = MasterKey.load(dir.resolve("master.key"));
            boolean asDaemon = kill % 2 == 0;
            InstanceStore store = asDaemon ? new InstanceStore(dir.resolve("instances"), key) : InstanceStore.shared(dir.resolve("instances"), key);
            for (int i = 0; i < VTPMS; i++) {
                Uuid u = CheckpointLoop.uuid(i);
                long last = acked.getOrDefault(u, 1L);
                InstanceRecord loaded = store.load(u).orElse(null);
                assertTrue(loaded != null, "kill " + kill + ": vTPM " + u + " vanished after generation " + last);
                long g = loaded.generation();
                assertTrue(g == last || g == last + 1, "kill " + kill + ": vTPM " + u + " loaded generation " + g
                        + " but generation " + last + " was acknowledged");
                assertArrayEquals(CheckpointLoop.record(u, g).permanent(), loaded.permanent(), "kill " + kill + ": " + u);
                inFlightFound += g > last ? 1 : 0;
                acked.put(u, g);
            }
            store.close(); // the daemon's store folds and lets the next child have the log
        }
        System.out.printf("checkpoint crash test: %d kills of %d vTPMs checkpointing at once, %d found an unacknowledged"
                + " checkpoint durable; generations reached %s%n", KILLS, VTPMS, inFlightFound, acked.values());
    }

    private static void record(Map<Uuid, Long> acked, String line) {
        String[] f = line.trim().split(" ");
        if (f.length == 2 && Uuid.isCanonical(f[0])) {
            acked.merge(new Uuid(f[0]), Long.parseLong(f[1]), Math::max);
        }
    }
}
