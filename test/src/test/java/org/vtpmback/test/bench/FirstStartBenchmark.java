package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.stream.Stream;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * The first-start benchmark of {@code scripts/bench.sh --first-start} (issue 12, "Figures to reach"): how long a
 * guest waits for its vTPM on the first start of a new uuid, from its frontend's Initialised to the backend's
 * Connected, next to the same wait on an ordinary reboot of an existing vTPM, measured on the same daemon (a
 * {@code vtpmback daemon} process, host = simulated, real xenstored and swtpm). Twice per family: with a stocked
 * pool of ready-made TPMs ({@code manufacture-pool}, waited for before each first start, so the filler is idle)
 * and with none ({@code manufacture-pool = 0}: the key generation happens while the guest waits). Printed as
 * ratios to the reboot; nothing is asserted about times.
 *
 * <p>The frontend probes right after the backend reached InitWait (its {@code --probe-delay} after it, default
 * 0): the worst case. A real guest kernel probes seconds after {@code xl create}, and the daemon begins from
 * InitWait, so on a real host more of the first start is hidden.
 */
public final class FirstStartBenchmark {
    private final Path xenstored;
    /** Where the daemons keep their state: a disk, as /var/lib/vtpmback. */
    private final Path work;
    /** Where their swtpm work: a tmpfs, as /run/vtpmback. */
    private final Path runtime;
    private final int rounds;
    private final long probeDelayMillis;

    private FirstStartBenchmark(Path xenstored, Path work, Path runtime, int rounds, long probeDelayMillis) {
        this.xenstored = xenstored;
        this.work = work;
        this.runtime = runtime;
        this.rounds = rounds;
        this.probeDelayMillis = probeDelayMillis;
    }

    static final String USAGE = """
            usage: FirstStartBenchmark --xenstored SOCKET --work DIR --runtime DIR [--quick] [--rounds N] [--probe-delay MS]
              --work DIR        the daemons' state (a disk), --runtime DIR their swtpm folders (a tmpfs; short)
              --rounds N        measured first starts and reboots per case (default 7; quick 3)
              --probe-delay MS  between the backend's InitWait and the frontend's probe (default 0)""";

    public static void main(String[] args) throws Exception {
        BenchArgs a = BenchArgs.parse(args, USAGE, List.of("xenstored", "work", "runtime"));
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        new FirstStartBenchmark(Path.of(a.get("xenstored")), Path.of(a.get("work")), Path.of(a.get("runtime")),
                Integer.parseInt(a.get("rounds", "3", "7")),
                Long.parseLong(a.get("probe-delay", "0", "0"))).run();
    }

    /** One case's waits, in milliseconds: first starts and reboots, measured alternately on one daemon. */
    record Waits(String family, String pool, List<Double> firstStarts, List<Double> reboots) {
        double ratio() {
            return median(firstStarts) / median(reboots);
        }
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "== vtpmback first-start benchmark, %s%n   machine: %d cores, load %s; %d rounds per case,"
                + " probe %d ms after InitWait%n", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME),
                Runtime.getRuntime().availableProcessors(), BenchReport.loadAverage(), rounds,
                probeDelayMillis);
        List<Waits> all = new ArrayList<>();
        for (String family : List.of("2.0", "1.2")) {
            all.add(measure(family, true));
            all.add(measure(family, false));
        }
        System.out.printf(Locale.ROOT, "%n== frontend Initialised -> backend Connected, median ms (min-max)%n");
        for (Waits w : all) {
            System.out.printf(Locale.ROOT, "FIRST_START family=%s pool=%-7s first_start=%.0f (%.0f-%.0f) reboot=%.0f (%.0f-%.0f)"
                    + " ratio=%.2f%s%n", w.family(), w.pool(), median(w.firstStarts()), min(w.firstStarts()), max(w.firstStarts()),
                    median(w.reboots()), min(w.reboots()), max(w.reboots()), w.ratio(),
                    w.pool().equals("stocked") ? " (issue 12 target: <= 1.5)" : " (for contrast)");
        }
    }

    private Waits measure(String family, boolean stocked) throws Exception {
        String pool = stocked ? "stocked" : "empty";
        System.out.printf(Locale.ROOT, "%n-- TPM %s, pool %s (manufacture-pool = %d)%n", family, pool, stocked ? 2 : 0);
        String name = family.charAt(0) + pool.substring(0, 1); // short: swtpm's socket paths end at 106 bytes
        Path dir = work.resolve(name);
        Path sim = Files.createDirectories(runtime.resolve(name + "-sim"));
        try (DaemonProcess daemon = DaemonProcess.start(xenstored, sim, dir.resolve("daemon"), "default-tpm-family=" + family,
                "manufacture-pool=" + (stocked ? 2 : 0), "runtime-dir=" + runtime.resolve(name));
             SimulatedVtpmHost host = new SimulatedVtpmHost(xenstored, dir.resolve("guests"), sim)) {
            Path poolDir = dir.resolve("daemon/state/pool");
            Guest existing = host.boot(UUID.randomUUID().toString());
            for (int i = 0; i < 3; i++) { // warm the daemon's JVM on both paths, unmeasured
                awaitPool(poolDir, stocked);
                host.boot(UUID.randomUUID().toString()).destroy();
                existing = reboot(host, existing);
            }
            List<Double> first = new ArrayList<>();
            List<Double> reboot = new ArrayList<>();
            for (int round = 1; round <= rounds; round++) {
                awaitPool(poolDir, stocked);
                Guest g = host.create(UUID.randomUUID().toString(), false);
                first.add(timedProbe(g));
                g.destroy();
                existing.shutdown(ShutdownReason.REBOOT);
                existing = host.create(existing.uuid(), false);
                reboot.add(timedProbe(existing));
                System.out.printf(Locale.ROOT, "   round %d  first start %6.0f ms   reboot %6.0f ms%n", round,
                        first.get(first.size() - 1), reboot.get(reboot.size() - 1));
            }
            return new Waits(family, pool, first, reboot);
        }
    }

    private static Guest reboot(SimulatedVtpmHost host, Guest g) throws Exception {
        g.shutdown(ShutdownReason.REBOOT);
        return host.boot(g.uuid());
    }

    /** The domain exists, its backend in InitWait: the frontend probes; milliseconds until it is Connected. */
    private double timedProbe(Guest g) throws Exception {
        Thread.sleep(probeDelayMillis);
        long t0 = System.nanoTime();
        g.unpause();
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Waits until the daemon's pool holds its 2 entries (a file each), so no key generation runs meanwhile. */
    private static void awaitPool(Path poolDir, boolean stocked) throws Exception {
        if (!stocked) {
            return;
        }
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (count(poolDir) < 2) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the daemon's pool in " + poolDir + " did not fill within 300 s");
            }
            Thread.sleep(20);
        }
        Thread.sleep(200); // the filler stores, then goes to sleep: let its swtpm exit
    }

    private static long count(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".vtpm")).count();
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = xs.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static double min(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    private static double max(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
