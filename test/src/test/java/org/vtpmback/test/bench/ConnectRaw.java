package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.stream.Stream;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.Uuid;

/** {@link ConnectBenchmark}'s baselines: raw swtpm on a manufactured vTPM's state, spawned and migrated. */
final class ConnectRaw {
    private ConnectRaw() {
    }

    /** Raw swtpm's times, ms: spawn to first answer on existing state; migration's destination to first answer. */
    record Raw(List<Double> spawn, List<Double> migrate) {
    }

    static Raw measure(SwtpmConfig config, String label, Path work, int rounds) throws Exception {
        System.out.printf(Locale.ROOT, "%n-- raw swtpm (%s)%n", label);
        SwtpmLauncher launcher = new SwtpmLauncher(config);
        Path base = Files.createDirectories(config.runtimeDir());
        // A manufactured vTPM's state, as the daemon's (RawSwtpm): copied into a new folder for each spawn.
        Path source = base.resolve("src");
        StateBlobs blobs;
        try (TpmEngine engine = launcher.create("bench-src", TpmFamily.TPM2, source)) {
            engine.initClear();
            engine.sendStartupClear();
            new StandardManufacturer(Files.createDirectories(work.resolve("raw-ca"))).manufacture(engine,
                    new Uuid(UUID.randomUUID().toString()));
            engine.execute(0, TpmCommands.getRandom(8));
            blobs = engine.saveState(true); // what a suspend takes from the source
            engine.shutdownOrderly();
        }
        List<Double> spawn = new ArrayList<>();
        List<Double> migrate = new ArrayList<>();
        for (int round = 0; round < rounds + 2; round++) { // the first two warm the JIT, unmeasured
            Path dir = Files.createDirectories(base.resolve("s" + round));
            try (Stream<Path> files = Files.list(source)) {
                for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".permall")).toList()) {
                    Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            long t0 = System.nanoTime();
            try (TpmEngine e = launcher.create("bench-s" + round, TpmFamily.TPM2, dir)) {
                e.initClear();
                e.sendStartupClear();
                answered(e);
                double ms = (System.nanoTime() - t0) / 1e6;
                if (round >= 2) {
                    spawn.add(ms);
                }
            }
            t0 = System.nanoTime();
            try (TpmEngine e = launcher.create("bench-m" + round, TpmFamily.TPM2, Files.createDirectories(base.resolve("m" + round)))) {
                e.restoreState(blobs);
                answered(e);
                double ms = (System.nanoTime() - t0) / 1e6;
                if (round >= 2) {
                    migrate.add(ms);
                }
            }
        }
        System.out.printf(Locale.ROOT, "   spawn to first answer %.1f ms, migrate to first answer %.1f ms (medians)%n",
                ConnectBenchmark.median(spawn), ConnectBenchmark.median(migrate));
        return new Raw(spawn, migrate);
    }

    private static void answered(TpmEngine e) {
        byte[] answer = e.execute(0, TpmCommands.getRandom(8));
        if (answer.length < 10 || java.nio.ByteBuffer.wrap(answer).getInt(6) != 0) {
            throw new IllegalStateException(e + ": GetRandom failed: " + java.util.HexFormat.of().formatHex(answer));
        }
    }
}
