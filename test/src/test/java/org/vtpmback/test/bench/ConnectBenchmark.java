package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
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
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * Issue 13's connect, resume and re-attach figures ({@code scripts/bench.sh --connect}), each against its raw swtpm
 * baseline measured in the same run; nothing is asserted about times:
 * <ul>
 *   <li><b>connect</b>: an existing TPM 2.0 vTPM's reboot, timed from the frontend's Initialised (its own stamp, not
 *   the device add nor the probe's start) to the backend's Connected as the frontend's watch sees it, and to the first
 *   answer, the frontend probing {@link #BOOTING_GUEST_MILLIS} after InitWait (a booting guest) and at once (a hot
 *   plug: the worst case, it waits for the swtpm spawned at InitWait), against raw swtpm spawned on the same kind of
 *   state: spawn, CMD_INIT, TPM2_Startup(CLEAR), first answer;
 *   <li><b>resume</b>: the restore of a SUSPENDED snapshot ({@code xl save} then {@code xl restore}), Initialised to
 *   the first answer, the frontend probing {@code --resume-delay} ms after InitWait (libxl 4.17 adds the vtpm device
 *   before it loads the saved memory, so a restored guest's frontend cannot be Initialised at once) and at once,
 *   against swtpm's own migration sequence on the destination (QEMU's: spawn, CMD_STOP, SET_STATEBLOB of
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

    /** How long after InitWait a restored guest's frontend probes (its memory being loaded meanwhile). */
    private final long resumeDelayMillis;

    private ConnectBenchmark(Path xenstored, Path work, Path runtime, int rounds, int guests, String logLevel,
                             long resumeDelayMillis) {
        this.resumeDelayMillis = resumeDelayMillis;
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
              --log-level L   the daemon's (default info; debug: its log shows where a connect's time goes)
              --resume-delay MS  a restored guest's frontend probes MS after InitWait (default 50)""";

    public static void main(String[] args) throws Exception {
        BenchArgs a = BenchArgs.parse(args, USAGE, List.of("xenstored", "work", "runtime"));
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        new ConnectBenchmark(Path.of(a.get("xenstored")), Path.of(a.get("work")), Path.of(a.get("runtime")),
                Integer.parseInt(a.get("rounds", "3", "9")),
                Integer.parseInt(a.get("guests", "4", "16")), a.get("log-level", "info", "info"),
                Long.parseLong(a.get("resume-delay", "50", "50"))).run();
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "== vtpmback connect / resume / re-attach benchmark, %s%n   machine: %d cores, load %s;"
                + " %d rounds, %d guests re-attached%n", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME),
                Runtime.getRuntime().availableProcessors(), Files.readString(Path.of("/proc/loadavg")).trim(), rounds, guests);
        ConnectRaw.Raw raw = ConnectRaw.measure(SwtpmConfig.defaults(runtime.resolve("raw")), "unjailed", work, rounds);
        Optional<ConnectRaw.Raw> jailed = DaemonProcess.isRoot()
                ? Optional.of(ConnectRaw.measure(SwtpmConfig.defaults(runtime.resolve("rawj")).withJail(
                        SwtpmJail.defaults(List.of(work, runtime))), "jailed", work, rounds))
                : Optional.empty();
        Relay relay = measureRelay();

        System.out.printf(Locale.ROOT, "%n== medians in ms (min-max)%n");
        line("raw-spawn", raw.spawn());
        line("raw-migrate", raw.migrate());
        jailed.ifPresent(j -> {
            line("raw-spawn-jailed", j.spawn());
            line("raw-migrate-jailed", j.migrate());
        });
        line("relay-init-connected", relay.initConnected());
        line("relay-init-connected-at-once", relay.initConnectedAtOnce());
        line("relay-resume-init-answer", relay.resumeInitAnswer());
        line("relay-resume-init-answer-at-once", relay.resumeInitAnswerAtOnce());
        line("relay-connect-at-once", relay.connect());
        line("relay-connect-answer-at-once", relay.connectAnswer());
        line("relay-connect-booted", relay.connectBooted());
        line("relay-resume-answer-at-once", relay.resumeAnswer());
        line("restart-ready", relay.ready());
        line("reattach-after-ready", relay.reattach());
        double spawn = median(raw.spawn());
        double migrate = median(raw.migrate());
        System.out.printf(Locale.ROOT, "RATIO-INIT connect=%.2f (Initialised -> Connected, probed %d ms after InitWait / raw"
                + " unjailed spawn to first answer)  at_once=%.2f%n", median(relay.initConnected()) / spawn, BOOTING_GUEST_MILLIS,
                median(relay.initConnectedAtOnce()) / spawn);
        System.out.printf(Locale.ROOT, "RATIO-DELAYED resume=%.2f (Initialised -> first answer, probed %d ms after InitWait /"
                + " raw migrate)  at_once=%.2f%n", median(relay.resumeInitAnswer()) / migrate, resumeDelayMillis,
                median(relay.resumeInitAnswerAtOnce()) / migrate);
        System.out.printf(Locale.ROOT, "RATIO connect=%.2f (at once, probe start -> Connected / raw spawn to first answer)"
                + "  connect_answer=%.2f  resume=%.2f (at once, first answer / raw migrate)%n", median(relay.connect()) / spawn,
                median(relay.connectAnswer()) / spawn, median(relay.resumeAnswer()) / migrate);
        jailed.ifPresent(j -> System.out.printf(Locale.ROOT, "RATIO-JAILED connect=%.2f at_once=%.2f resume=%.2f at_once=%.2f"
                + " (Initialised as above, against raw swtpm in the daemon's jail)%n", median(relay.initConnected()) / median(j.spawn()),
                median(relay.initConnectedAtOnce()) / median(j.spawn()), median(relay.resumeInitAnswer()) / median(j.migrate()),
                median(relay.resumeInitAnswerAtOnce()) / median(j.migrate())));
        goal("connect", median(relay.initConnected()) / spawn, 1.5, "x raw spawn (Initialised -> Connected, booting guest)");
        goal("resume", median(relay.resumeInitAnswer()) / migrate, 1.5, "x raw migrate (Initialised -> first answer, "
                + resumeDelayMillis + " ms after InitWait)");
        goal("reattach", max(relay.reattach()) / 1000, 0.2, "s after ready (slowest restart; negative: before ready), "
                + guests + " guests");
        goal("start", median(relay.ready()) / 1000, 0.5, "s exec to ready (test classpath, no AppCDS: see start-time.sh)");
    }

    private static void line(String what, List<Double> ms) {
        System.out.printf(Locale.ROOT, "CONNECT %-34s %8.1f (%.1f-%.1f) n=%d%n", what, median(ms), min(ms), max(ms), ms.size());
    }

    private static void goal(String what, double value, double target, String unit) {
        System.out.printf(Locale.ROOT, "GOAL %s %.2f %s (target <= %.2f): %s%n", what, value, unit, target,
                value <= target ? "met" : "not met");
    }

    /** The relay's times, ms. */
    record Relay(List<Double> initConnected, List<Double> initConnectedAtOnce, List<Double> resumeInitAnswer,
                 List<Double> resumeInitAnswerAtOnce, List<Double> connect, List<Double> connectAnswer,
                 List<Double> connectBooted, List<Double> resumeAnswer, List<Double> ready, List<Double> reattach) {
    }

    private Relay measureRelay() throws Exception {
        System.out.printf(Locale.ROOT, "%n-- relay (vtpmback daemon)%n");
        Path sim = Files.createDirectories(runtime.resolve("sim"));
        Path daemonWork = work.resolve("daemon");
        String[] settings = {"default-tpm-family=2.0", "runtime-dir=" + runtime.resolve("relay"), "log-level=" + logLevel};
        Relay out = new Relay(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(),
                new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        List<Double> ready = out.ready();
        List<Double> reattach = out.reattach();
        DaemonProcess daemon = DaemonProcess.start(xenstored, sim, daemonWork, settings);
        try (SimulatedVtpmHost host = new SimulatedVtpmHost(xenstored, work.resolve("guests"), sim)) {
            Guest g = host.boot(UUID.randomUUID().toString());
            for (int round = 0; round < rounds + 2; round++) { // the first two warm the daemon's JIT, unmeasured
                g.shutdown(ShutdownReason.REBOOT);
                ConnectProbe.awaitGone(daemon, g);
                g = host.create(g.uuid(), false);
                ConnectProbe.Probe c = ConnectProbe.probeAndAnswer(g, 0);
                g.shutdown(ShutdownReason.REBOOT);
                ConnectProbe.awaitGone(daemon, g);
                g = host.create(g.uuid(), false);
                ConnectProbe.Probe b = ConnectProbe.probeAndAnswer(g, BOOTING_GUEST_MILLIS);
                g.suspend();
                g = host.create(g.uuid(), true);
                ConnectProbe.Probe r = ConnectProbe.probeAndAnswer(g, 0);
                g.suspend();
                g = host.create(g.uuid(), true);
                ConnectProbe.Probe rd = ConnectProbe.probeAndAnswer(g, resumeDelayMillis);
                if (round >= 2) {
                    out.initConnected().add(b.initConnected());
                    out.initConnectedAtOnce().add(c.initConnected());
                    out.resumeInitAnswer().add(rd.initAnswer());
                    out.resumeInitAnswerAtOnce().add(r.initAnswer());
                    out.connect().add(c.connected());
                    out.connectAnswer().add(c.connected() + c.answer());
                    out.connectBooted().add(b.connected() + b.answer());
                    out.resumeAnswer().add(r.connected() + r.answer());
                    System.out.printf(Locale.ROOT, "   round %d  Initialised -> Connected: booting %.2f, at once %.2f ms;"
                            + " resume Initialised -> first answer: %d ms later %.2f, at once %.2f ms%n", round - 1,
                            b.initConnected(), c.initConnected(), resumeDelayMillis, rd.initAnswer(), r.initAnswer());
                    System.out.printf(Locale.ROOT, "     booting %s%n     at once %s%n     resume %d ms later %s%n"
                            + "     resume at once %s%n", b.times(), c.times(), resumeDelayMillis, rd.times(), r.times());
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
        return out;
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
