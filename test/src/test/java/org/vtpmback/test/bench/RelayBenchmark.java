package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.backend.state.Uuid;

/**
 * The relay benchmark of {@code scripts/bench.sh}: what a TPM command costs through vtpmback (frontend
 * emulator, shared page, simulated event channel, the real daemon in another process, its swtpm)
 * compared with the same command sent straight to an identically started swtpm, measured in the same
 * run and printed as ratios. Not a test: it asserts no timings, and fails only if a TPM command fails.
 *
 * <p>Cases: the command mix with 1, 4, 16... clients at once (raw: as many swtpm processes, one
 * client each; relay: as many guests), and NV_Write, whose every command makes the daemon checkpoint
 * the vTPM's sealed state before it answers. A floor, the bare simulated event-channel round trip,
 * shows how much of the relay's cost is the simulation's notification path; the daemon's CPU time per
 * relayed command (from /proc) shows what the relay costs dom0 apart from waiting.
 */
public final class RelayBenchmark {
    private final BenchOptions options;
    private final BenchReport report = new BenchReport(System.out);

    private RelayBenchmark(BenchOptions options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        BenchOptions options;
        try {
            options = BenchOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("bench: " + e.getMessage());
            System.err.println(BenchOptions.USAGE);
            System.exit(2);
            return;
        }
        // The backend's and the emulators' INFO lines (swtpm started, EK manufactured) would drown the results.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        new RelayBenchmark(options).run();
    }

    private void run() throws Exception {
        System.out.printf("== vtpmback relay benchmark, %s%n   machine: %d cores, %s %s, Java %s; load %s%n   %s%n",
                ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name"), System.getProperty("os.version"), System.getProperty("java.version"),
                loadAverage(), options);
        List<CaseResult> cases = new ArrayList<>();
        int guests = options.maxGuests();
        report.note("starting " + guests + " raw swtpm and booting " + guests + " guests (each vTPM is manufactured)");
        try (RawSwtpm raw = RawSwtpm.start(options.runtimeDir(), options.work().resolve("ca"), guests);
             RelayGuests relay = RelayGuests.boot(options.xenstoredSocket(), options.simDir(), options.work().resolve("guests"), guests)) {
            prime(raw, relay);
            for (int n : options.guests()) {
                cases.add(measure("mix-x" + n, Workload.MIX, raw.clients(n), relay.clients(n), options.warmup(),
                        options.commands()));
            }
            cases.add(measureNvWrite(raw, relay));
        }
        RunResult floor;
        report.caseStarts("evtchn-echo", "a bare simulated event-channel round trip (no page, no daemon, no swtpm)", 1);
        try (EventChannelEcho echo = EventChannelEcho.open(new SimulationDirectory(Files.createDirectories(options.work().resolve("echo"))))) {
            floor = ClientRun.run("echo", List.of(echo.client()), Workload.MIX, options.warmup(), options.commands());
        }
        report.measured(1, "floor", floor);
        report.summary(cases, floor);
        System.out.printf("%n   load at the end: %s%n", loadAverage());
    }

    /**
     * Warms both JVMs, this one and the daemon's, on both paths before anything is measured: the
     * daemon's C2 compiler was seen still busy after 10000 relayed commands, and it is a long-running
     * daemon we want to describe. Also defines the NV index of the NV_Write case.
     */
    private void prime(RawSwtpm raw, RelayGuests relay) throws Exception {
        expectSuccess("raw NV_DefineSpace", raw.client(0), Workload.nvSetup());
        expectSuccess("relay NV_DefineSpace", relay.client(0), Workload.nvSetup());
        if (options.prime() == 0) {
            return;
        }
        int nvWrites = Math.max(1, options.prime() / 100);
        report.note("priming (not measured): " + options.prime() + " mix and " + nvWrites + " NV_Write commands on each side");
        for (TpmClient client : List.of(raw.client(0), relay.client(0))) {
            ClientRun.run("prime", List.of(client), Workload.MIX, 0, options.prime());
            ClientRun.run("prime", List.of(client), Workload.NV_WRITE, 0, nvWrites);
        }
    }

    private CaseResult measureNvWrite(RawSwtpm raw, RelayGuests relay) throws Exception {
        String uuid = relay.guest(0).uuid();
        long before = generation(uuid);
        CaseResult result = measure("nv-write-x1", Workload.NV_WRITE, List.of(raw.client(0)), List.of(relay.client(0)),
                options.nvWarmup(), options.nvCommands());
        long sent = (long) options.rounds() * (options.nvWarmup() + options.nvCommands());
        String checkpoints = "checkpoints=" + (generation(uuid) - before) + "/" + sent;
        report.note(checkpoints + ": sealed saves of the vTPM's state for the NV_Writes the relay answered");
        String note = result.note().isEmpty() ? checkpoints : checkpoints + " " + result.note();
        return new CaseResult(result.name(), result.raw(), result.relay(), note);
    }

    /** Measures one case {@code options.rounds()} times; raw goes first in odd rounds, the relay in even ones. */
    private CaseResult measure(String name, Workload workload, List<TpmClient> raw, List<TpmClient> relay, int warmup,
                               int commands) throws Exception {
        report.caseStarts(name, workload.description(), raw.size());
        List<RunResult> rawRuns = new ArrayList<>();
        List<RunResult> relayRuns = new ArrayList<>();
        long daemonCpu = 0;
        for (int round = 1; round <= options.rounds(); round++) {
            boolean rawFirst = round % 2 == 1;
            for (int side = 0; side < 2; side++) {
                boolean isRaw = (side == 0) == rawFirst;
                long cpuBefore = daemonCpuNanos();
                RunResult r = ClientRun.run(name + (isRaw ? "-raw" : "-relay"), isRaw ? raw : relay, workload, warmup, commands);
                (isRaw ? rawRuns : relayRuns).add(r);
                report.measured(round, isRaw ? "raw" : "relay", r);
                daemonCpu += isRaw ? 0 : daemonCpuNanos() - cpuBefore;
            }
        }
        // Over whole runs (warm-up and every client's last commands too): the daemon is busy for all of them.
        long relayed = (long) options.rounds() * relay.size() * (warmup + commands);
        String cpu = options.daemonPid() == 0 ? "" : String.format(Locale.ROOT, "daemon_cpu_us_per_cmd=%.1f", daemonCpu / 1e3 / relayed);
        if (!cpu.isEmpty()) {
            report.note(cpu + ": CPU time of the daemon process (all threads) per relayed command");
        }
        return new CaseResult(name, rawRuns, relayRuns, cpu);
    }

    private long daemonCpuNanos() {
        return options.daemonPid() == 0 ? 0 : ProcessCpu.nanos(options.daemonPid());
    }

    private static void expectSuccess(String what, TpmClient client, byte[] command) throws Exception {
        byte[] response = client.transact(command);
        if (TpmCommands.rc(response) != 0) {
            throw new IllegalStateException(what + " failed: " + HexFormat.of().formatHex(response));
        }
    }

    /** The generation of the vTPM's sealed file in the daemon's store: one more per checkpoint. */
    private long generation(String uuid) throws Exception {
        Path state = options.daemonState();
        InstanceStore store = InstanceStore.shared(state.resolve("instances"), MasterKey.load(state.resolve("master.key")));
        return store.load(Uuid.parse(uuid)).orElseThrow(() -> new IllegalStateException("no stored vTPM " + uuid + " in " + state))
                .generation();
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
