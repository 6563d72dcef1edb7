package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * Issue 13's connect, resume and re-attach figures ({@code scripts/bench.sh --connect}), each against its raw swtpm
 * baseline measured in the same run; nothing is asserted about times:
 * <ul>
 *   <li><b>connect</b>: an existing TPM 2.0 vTPM's reboot, frontend Initialised to backend Connected, and to the first
 *   answer, the frontend probing at once after InitWait (the worst case) and {@link #BOOTING_GUEST_MILLIS} later, against raw swtpm spawned on the same kind of state: spawn, CMD_INIT, TPM2_Startup(CLEAR), first answer;
 *   <li><b>resume</b>: the restore of a SUSPENDED snapshot ({@code xl save} then {@code xl restore}), Initialised to the
 *   first answer, against swtpm's own migration sequence on the destination (QEMU's: spawn, CMD_STOP, SET_STATEBLOB of
 *   both blobs, CMD_INIT, first answer; the source's GET_STATEBLOBs are at suspend in both);
 *   <li><b>re-attach</b>: a daemon restart under K running guests, each with a command sent while no daemon ran: the
 *   new daemon's exec to ready (its own "ready ... after exec" line) and from ready to the last guest's answer.
 * </ul>
 * The relay is a {@code vtpmback daemon} process (host = simulated, real xenstored and swtpm; jailed as root, as on a
 * host); raw swtpm runs unjailed (the baseline) and, as root, also in the daemon's jail, for reference.
 */
public final class ConnectBenchmark {
    /**
     * When a booting guest's tpmfront probes after {@code xl create}: a Linux PV kernel takes longer than this from
     * its start to the tpm driver's probe, and the daemon prepares the vTPM from InitWait meanwhile.
     */
    private static final long BOOTING_GUEST_MILLIS = 1000;
    private static final Pattern READY = Pattern.compile("ready (\\d+\\.\\d+) s after exec");

    private final Path xenstored;
    /** The daemon's state (a disk) and the raw baseline's CA. */
    private final Path work;
    /** swtpm folders, relay and raw: a tmpfs, as /run/vtpmback. */
    private final Path runtime;
    private final int rounds;
    private final int guests;
    /** The daemon's log level: debug shows where a connect's time goes (the log's millisecond stamps). */
    private final String logLevel;

    private ConnectBenchmark(Path xenstored, Path work, Path runtime, int rounds, int guests, String logLevel) {
        this.xenstored = xenstored;
        this.work = work;
        this.runtime = runtime;
        this.rounds = rounds;
        this.guests = guests;
        this.logLevel = logLevel;
    }

    static final String USAGE = """
            usage: ConnectBenchmark --xenstored SOCKET --work DIR --runtime DIR [--quick] [--rounds N] [--guests K]
              --work DIR      the daemon's state (a disk), --runtime DIR the swtpm folders (a tmpfs; short path)
              --rounds N      measured connects, resumes and raw starts of each kind (default 9; quick 3)
              --guests K      running guests a daemon restart re-attaches (default 16; quick 4)
              --log-level L   the daemon's (default info; debug: its log shows where a connect's time goes)""";

    public static void main(String[] args) throws Exception {
        BenchArgs a = BenchArgs.parse(args, USAGE, List.of("xenstored", "work", "runtime"));
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        new ConnectBenchmark(Path.of(a.get("xenstored")), Path.of(a.get("work")), Path.of(a.get("runtime")),
                Integer.parseInt(a.get("rounds", "3", "9")),
                Integer.parseInt(a.get("guests", "4", "16")), a.get("log-level", "info", "info")).run();
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "== vtpmback connect / resume / re-attach benchmark, %s%n   machine: %d cores, load %s;"
                + " %d rounds, %d guests re-attached%n", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME),
                Runtime.getRuntime().availableProcessors(), Files.readString(Path.of("/proc/loadavg")).trim(), rounds, guests);
        Raw raw = measureRaw(SwtpmConfig.defaults(runtime.resolve("raw")), "unjailed");
        Optional<Raw> jailed = DaemonProcess.isRoot()
                ? Optional.of(measureRaw(SwtpmConfig.defaults(runtime.resolve("rawj")).withJail(
                        SwtpmJail.defaults(List.of(work, runtime))), "jailed"))
                : Optional.empty();
        Relay relay = measureRelay();

        System.out.printf(Locale.ROOT, "%n== medians in ms (min-max)%n");
        line("raw-spawn", raw.spawn());
        line("raw-migrate", raw.migrate());
        jailed.ifPresent(j -> {
            line("raw-spawn-jailed", j.spawn());
            line("raw-migrate-jailed", j.migrate());
        });
        line("relay-connect", relay.connect());
        line("relay-connect-answer", relay.connectAnswer());
        line("relay-connect-booted", relay.connectBooted());
        line("relay-resume-answer", relay.resumeAnswer());
        line("restart-ready", relay.ready());
        line("reattach-after-ready", relay.reattach());
        System.out.printf(Locale.ROOT, "RATIO connect=%.2f (Connected / raw spawn to first answer)  connect_answer=%.2f"
                + "  resume=%.2f (first answer / raw migrate)%n", median(relay.connect()) / median(raw.spawn()),
                median(relay.connectAnswer()) / median(raw.spawn()), median(relay.resumeAnswer()) / median(raw.migrate()));
        jailed.ifPresent(j -> System.out.printf(Locale.ROOT, "RATIO-JAILED connect=%.2f connect_answer=%.2f resume=%.2f"
                + " (against raw swtpm in the daemon's jail)%n", median(relay.connect()) / median(j.spawn()),
                median(relay.connectAnswer()) / median(j.spawn()), median(relay.resumeAnswer()) / median(j.migrate())));
        goal("connect", median(relay.connect()) / median(raw.spawn()), 1.5, "x raw spawn");
        goal("resume", median(relay.resumeAnswer()) / median(raw.migrate()), 1.5, "x raw migrate");
        goal("reattach", max(relay.reattach()) / 1000, 0.2, "s after ready (slowest restart; negative: before ready), "
                + guests + " guests");
        goal("start", median(relay.ready()) / 1000, 0.5, "s exec to ready (test classpath, no AppCDS: see start-time.sh)");
    }

    private static void line(String what, List<Double> ms) {
        System.out.printf(Locale.ROOT, "CONNECT %-22s %8.1f (%.1f-%.1f) n=%d%n", what, median(ms), min(ms), max(ms), ms.size());
    }

    private static void goal(String what, double value, double target, String unit) {
        System.out.printf(Locale.ROOT, "GOAL %s %.2f %s (target <= %.2f): %s%n", what, value, unit, target,
                value <= target ? "met" : "not met");
    }

    /** Raw swtpm's times, ms: spawn to first answer on existing state; migration's destination to first answer. */
    record Raw(List<Double> spawn, List<Double> migrate) {
    }

    private Raw measureRaw(SwtpmConfig config, String label) throws Exception {
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
                median(spawn), median(migrate));
        return new Raw(spawn, migrate);
    }

    private static void answered(TpmEngine e) {
        byte[] answer = e.execute(0, TpmCommands.getRandom(8));
        if (answer.length < 10 || java.nio.ByteBuffer.wrap(answer).getInt(6) != 0) {
            throw new IllegalStateException(e + ": GetRandom failed: " + java.util.HexFormat.of().formatHex(answer));
        }
    }

    /** The relay's times, ms. */
    record Relay(List<Double> connect, List<Double> connectAnswer, List<Double> connectBooted, List<Double> resumeAnswer,
                 List<Double> ready,
                 List<Double> reattach) {
    }

    private Relay measureRelay() throws Exception {
        System.out.printf(Locale.ROOT, "%n-- relay (vtpmback daemon)%n");
        Path sim = Files.createDirectories(runtime.resolve("sim"));
        Path daemonWork = work.resolve("daemon");
        String[] settings = {"default-tpm-family=2.0", "runtime-dir=" + runtime.resolve("relay"), "log-level=" + logLevel};
        List<Double> connect = new ArrayList<>();
        List<Double> connectAnswer = new ArrayList<>();
        List<Double> connectBooted = new ArrayList<>();
        List<Double> resumeAnswer = new ArrayList<>();
        List<Double> ready = new ArrayList<>();
        List<Double> reattach = new ArrayList<>();
        DaemonProcess daemon = DaemonProcess.start(xenstored, sim, daemonWork, settings);
        try (SimulatedVtpmHost host = new SimulatedVtpmHost(xenstored, work.resolve("guests"), sim)) {
            Guest g = host.boot(UUID.randomUUID().toString());
            for (int round = 0; round < rounds + 2; round++) { // the first two warm the daemon's JIT, unmeasured
                g.shutdown(ShutdownReason.REBOOT);
                awaitGone(daemon, g);
                g = host.create(g.uuid(), false);
                double[] c = probeAndAnswer(g, 0);
                g.shutdown(ShutdownReason.REBOOT);
                awaitGone(daemon, g);
                g = host.create(g.uuid(), false);
                double[] b = probeAndAnswer(g, BOOTING_GUEST_MILLIS);
                g.suspend();
                g = host.create(g.uuid(), true);
                double[] r = probeAndAnswer(g, 0);
                if (round >= 2) {
                    connect.add(c[0]);
                    connectAnswer.add(c[0] + c[1]);
                    connectBooted.add(b[0] + b[1]);
                    resumeAnswer.add(r[0] + r[1]);
                    System.out.printf(Locale.ROOT, "   round %d  connect %.1f + answer %.1f ms (probe %d ms later: %.1f + %.1f)"
                            + "   resume %.1f + answer %.1f ms%n", round - 1, c[0], c[1], BOOTING_GUEST_MILLIS, b[0], b[1], r[0], r[1]);
                }
            }
            g.destroy();

            List<Guest> running = host.bootMany(guests);
            for (Guest each : running) {
                each.transmit(TpmCommands.getRandom(8));
            }
            for (int round = 0; round < Math.max(3, rounds / 3); round++) {
                daemon.stop(); // SIGTERM: the guests' swtpm keep running for the next daemon
                List<CompletableFuture<Long>> answers = new ArrayList<>();
                for (Guest each : running) { // sent while no daemon runs: the next one finds them on the page
                    answers.add(CompletableFuture.supplyAsync(() -> {
                        try {
                            each.transmit(TpmCommands.getRandom(8));
                            return System.nanoTime();
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }));
                }
                Thread.sleep(200); // the commands are on the pages
                long exec = System.nanoTime();
                int logMark = daemon.log().length();
                daemon = DaemonProcess.start(xenstored, sim, daemonWork, settings);
                long last = 0;
                for (CompletableFuture<Long> a : answers) {
                    last = Math.max(last, a.get());
                }
                // The guests may answer before the daemon logs its ready line (it re-attaches them during its start).
                DaemonProcess started = daemon;
                ProgressWait.await("the daemon's 'ready ... after exec' line", () -> READY.matcher(started.log()
                        .substring(logMark)).find(), () -> "no such line since the daemon's start yet");
                Matcher m = READY.matcher(daemon.log().substring(logMark));
                if (!m.find()) {
                    throw new IllegalStateException("no 'ready ... after exec' line in the daemon's log");
                }
                double readyMs = Double.parseDouble(m.group(1)) * 1000;
                double lastMs = (last - exec) / 1e6;
                ready.add(readyMs);
                reattach.add(lastMs - readyMs); // negative: every guest answered before the daemon said ready
                System.out.printf(Locale.ROOT, "   restart %d  ready %.0f ms after exec, last of %d guests answered %.0f ms"
                        + " after exec (%.0f after ready)%n", round + 1, readyMs, guests, lastMs, lastMs - readyMs);
            }
        } finally {
            daemon.close();
        }
        return new Relay(connect, connectAnswer, connectBooted, resumeAnswer, ready, reattach);
    }

    /**
     * Until the daemon has let go of {@code g}'s device: a reboot's save runs as libxl removes the old device, which the
     * emulated toolstack does at once, while a real one builds the new domain first (memory, kernel) before adding its
     * devices. Not timed: what is measured starts at the new domain's probe.
     */
    private static void awaitGone(DaemonProcess daemon, Guest g) throws Exception {
        String gone = "domain " + g.domid() + " vtpm 0: device gone";
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!daemon.log().contains(gone)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no '" + gone + "' in the daemon's log within 30 s");
            }
            Thread.sleep(5);
        }
    }

    /**
     * The domain exists, its backend in InitWait: the frontend probes {@code delayMillis} later; ms from its
     * Initialised until Connected, then ms to the first answer.
     */
    private static double[] probeAndAnswer(Guest g, long delayMillis) throws Exception {
        Thread.sleep(delayMillis);
        long t0 = System.nanoTime();
        g.unpause();
        long t1 = System.nanoTime();
        byte[] answer = g.transmit(TpmCommands.getRandom(8));
        long t2 = System.nanoTime();
        if (answer.length < 10 || java.nio.ByteBuffer.wrap(answer).getInt(6) != 0) {
            throw new IllegalStateException("domain " + g.domid() + ": GetRandom failed");
        }
        return new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6};
    }

    static double median(List<Double> xs) {
        return FirstStartBenchmark.median(xs);
    }

    private static double min(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    private static double max(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
