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
import java.util.Map;
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
 * client each; relay: as many guests), and NV_Write with one client and with as many as the largest mix
 * case, whose every command makes the daemon checkpoint the vTPM's sealed state before it answers. Its
 * fair baseline is raw swtpm with its state on the file system of the daemon's state-dir (swtpm then
 * writes its permall file to that disk); raw swtpm on a tmpfs is printed beside it for reference.
 * A floor, the bare simulated event-channel round trip,
 * shows how much of the relay's cost is the simulation's notification path; the daemon's CPU time per
 * relayed command (from /proc) shows what the relay costs dom0 apart from waiting.
 */
public final class RelayBenchmark {
    private final BenchOptions options;
    private final BenchReport report = new BenchReport(System.out);
    /** The daemon's CPU time per relayed command of the case measured last; -1 without the daemon's pid. */
    private double lastCpuMicrosPerCommand = -1;
    /** swtpm's own CPU time per command of the case measured last, by side (relay: the daemon's swtpm processes). */
    private final Map<String, Double> lastSwtpmMicrosPerCommand = new java.util.TreeMap<>();
    /**
     * This process's CPU time per command of the case measured last, by side: the clients (raw: a socket write and read;
     * relay: the emulated guests' frontend, page and event channel). On this machine every party shares its cores.
     */
    private final Map<String, Double> lastClientMicrosPerCommand = new java.util.TreeMap<>();
    /** How many of the machine's cores the parties kept busy together, by side, over the case measured last. */
    private final Map<String, Double> lastBusyCores = new java.util.TreeMap<>();

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
                BenchReport.loadAverage(), options);
        Path rawDisk = Files.createDirectories(options.work().resolve("raw-disk"));
        System.out.printf("   daemon state-dir %s; raw-on-disk baseline %s; raw baseline %s%n", where(options.daemonState()),
                where(rawDisk), where(options.runtimeDir()));
        if (!Files.getFileStore(rawDisk).equals(Files.getFileStore(options.daemonState()))) {
            System.out.println("   WARNING: the raw-on-disk baseline is not on the state-dir's file system: its NV_Write ratios are not fair");
        }
        Path rawDurable = options.work().resolve("raw-durable");
        java.util.Optional<String> noDurable = DurableFolder.makeSynchronous(rawDurable);
        System.out.println(noDurable.map(why -> "   no raw-durable reference (" + why + "): its NV_Write lines are skipped")
                .orElse("   raw-durable reference " + where(rawDurable) + ", chattr +S: swtpm's own writes synchronous"));
        List<CaseResult> cases = new ArrayList<>();
        int guests = options.maxGuests();
        report.note("starting " + guests + " raw swtpm and booting " + guests + " guests (each vTPM is manufactured)");
        try (RawSwtpm raw = RawSwtpm.start(options.runtimeDir(), options.work().resolve("ca"), guests);
             RawSwtpm rawDiskSwtpm = RawSwtpm.start(rawDisk, options.work().resolve("ca"), guests);
             RawSwtpm durable = noDurable.isEmpty() ? RawSwtpm.start(rawDurable, options.work().resolve("ca"), guests) : null;
             RelayGuests relay = RelayGuests.boot(options.xenstoredSocket(), options.simDir(), options.work().resolve("guests"), guests)) {
            prime(raw, relay);
            for (int n : options.guests()) {
                cases.add(measure("mix-x" + n, Workload.MIX, raw.clients(n), raw.pids(n), relay.clients(n), options.warmup(),
                        options.commands()));
            }
            if (durable != null && !DurableFolder.isSynchronous(rawDurable.resolve("raw-0"))) {
                throw new IllegalStateException(rawDurable.resolve("raw-0") + " did not inherit the S flag of " + rawDurable);
            }
            defineNvIndex(rawDiskSwtpm, durable, raw, relay, guests);
            cases.addAll(measureNvWrite(1, rawDiskSwtpm, durable, raw, relay));
            if (guests > 1) {
                cases.addAll(measureNvWrite(guests, rawDiskSwtpm, durable, raw, relay));
            }
        }
        RunResult floor;
        report.caseStarts("evtchn-echo", "a bare simulated event-channel round trip (no page, no daemon, no swtpm)", 1);
        try (EventChannelEcho echo = EventChannelEcho.open(new SimulationDirectory(Files.createDirectories(options.work().resolve("echo"))))) {
            floor = ClientRun.run("echo", List.of(echo.client()), Workload.MIX, options.warmup(), options.commands());
        }
        report.measured(1, "floor", floor);
        report.summary(cases, floor);
        report.goals(cases, floor);
        if (options.results().isPresent()) {
            for (CaseResult c : cases) {
                LatencyQuantiles.write(options.results().get().resolve("latency-" + c.name().replace('/', '-') + ".dat"), c);
            }
        }
        System.out.printf("%n   load at the end: %s%n", BenchReport.loadAverage());
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
        // A tenth as many NV_Writes: the JDK's AES-GCM reaches its AES-NI/CLMUL code only after a few thousand seals
        // (measured alone: 300-500 us per 12.5 KB seal before, 20-50 us after); a long-running daemon is past that.
        int nvWrites = Math.max(1, options.prime() / 10);
        report.note("priming (not measured): " + options.prime() + " mix and " + nvWrites + " NV_Write commands on each side");
        for (TpmClient client : List.of(raw.client(0), relay.client(0))) {
            ClientRun.run("prime", List.of(client), Workload.MIX, 0, options.prime());
            ClientRun.run("prime", List.of(client), Workload.NV_WRITE, 0, nvWrites);
        }
    }

    /** NV_Define of the NV_Write cases' index on every TPM that does not have it yet (the first ones got it in {@link #prime}). */
    private static void defineNvIndex(RawSwtpm rawDisk, RawSwtpm durable, RawSwtpm raw, RelayGuests relay, int count)
            throws Exception {
        for (int i = 0; i < count; i++) {
            expectSuccess("raw-disk NV_DefineSpace", rawDisk.client(i), Workload.nvSetup());
            if (durable != null) {
                expectSuccess("raw-durable NV_DefineSpace", durable.client(i), Workload.nvSetup());
            }
            if (i > 0) {
                expectSuccess("raw NV_DefineSpace", raw.client(i), Workload.nvSetup());
                expectSuccess("relay NV_DefineSpace", relay.client(i), Workload.nvSetup());
            }
        }
    }

    /**
     * NV_Write with {@code clients} at once: raw swtpm with its state on the state-dir's disk (the fair baseline:
     * the case named {@code nv-write-xN}), raw swtpm on a tmpfs (for reference: {@code nv-write-xN/tmpfs}, same relay
     * runs), raw swtpm in a synchronous folder on the same disk when there is one (for reference:
     * {@code nv-write-xN/raw-durable}, what durability alone costs raw swtpm), and the relay, whose checkpoints are
     * counted from the vTPMs' generations.
     */
    private List<CaseResult> measureNvWrite(int clients, RawSwtpm rawDisk, RawSwtpm durable, RawSwtpm raw, RelayGuests relay)
            throws Exception {
        String name = "nv-write-x" + clients;
        List<String> uuids = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            uuids.add(relay.guest(i).uuid());
        }
        long before = generations(uuids);
        Map<String, List<TpmClient>> baselines = new java.util.HashMap<>(Map.of("raw-disk", rawDisk.clients(clients),
                "raw-tmpfs", raw.clients(clients)));
        Map<String, List<Long>> pids = new java.util.HashMap<>(Map.of("raw-disk", rawDisk.pids(clients), "raw-tmpfs",
                raw.pids(clients)));
        if (durable != null) {
            baselines.put("raw-durable", durable.clients(clients));
            pids.put("raw-durable", durable.pids(clients));
        }
        Map<String, List<RunResult>> runs = measureSides(name, Workload.NV_WRITE, baselines, pids, relay.clients(clients),
                options.nvWarmup(), options.nvCommands());
        long sent = (long) options.rounds() * clients * (options.nvWarmup() + options.nvCommands());
        String checkpoints = "checkpoints=" + (generations(uuids) - before) + "/" + sent;
        report.note(checkpoints + ": sealed checkpoints of the vTPMs' state for the NV_Writes the relay answered");
        String note = checkpoints + " " + cpuNote("raw-disk");
        List<CaseResult> out = new ArrayList<>(List.of(
                new CaseResult(name, runs.get("raw-disk"), runs.get("relay"), "baseline=raw-on-disk " + note),
                new CaseResult(name + "/tmpfs", runs.get("raw-tmpfs"), runs.get("relay"), "baseline=raw-on-tmpfs")));
        if (durable != null) {
            out.add(new CaseResult(name + "/raw-durable", runs.get("raw-durable"), runs.get("relay"),
                    "baseline=raw-on-disk-synchronous"));
        }
        return out;
    }

    /** Measures one case {@code options.rounds()} times, raw first in odd rounds and the relay first in even ones. */
    private CaseResult measure(String name, Workload workload, List<TpmClient> raw, List<Long> rawPids, List<TpmClient> relay,
                               int warmup, int commands) throws Exception {
        Map<String, List<RunResult>> runs = measureSides(name, workload, Map.of("raw", raw), Map.of("raw", rawPids), relay, warmup,
                commands);
        return new CaseResult(name, runs.get("raw"), runs.get("relay"), cpuNote("raw"));
    }

    /**
     * Each round runs every baseline and the relay once, in an order that turns round by round; the daemon's CPU time
     * per relayed command is kept for {@link #cpuNote}.
     */
    private Map<String, List<RunResult>> measureSides(String name, Workload workload, Map<String, List<TpmClient>> baselines,
                                                      Map<String, List<Long>> baselinePids, List<TpmClient> relay, int warmup,
                                                      int commands) throws Exception {
        report.caseStarts(name, workload.description(), relay.size());
        List<String> order = new ArrayList<>(new java.util.TreeMap<>(baselines).keySet());
        order.add("relay");
        Map<String, List<RunResult>> runs = new java.util.LinkedHashMap<>();
        order.forEach(side -> runs.put(side, new ArrayList<>()));
        long daemonCpu = 0;
        Map<String, Long> swtpmCpu = new java.util.HashMap<>();
        Map<String, Long> daemonThreads = new java.util.HashMap<>();
        Map<String, Long> clientCpu = new java.util.HashMap<>();
        Map<String, Long> partiesCpu = new java.util.HashMap<>();
        Map<String, Long> wall = new java.util.HashMap<>();
        long self = ProcessHandle.current().pid();
        List<Long> relayPids = options.daemonPid() == 0 ? List.of() : ProcessCpu.swtpmDescendants(options.daemonPid());
        for (int round = 1; round <= options.rounds(); round++) {
            for (int k = 0; k < order.size(); k++) {
                String side = order.get(Math.floorMod(k + (round % 2 == 1 ? 0 : -1), order.size())); // the relay first in even rounds
                List<Long> pids = side.equals("relay") ? relayPids : baselinePids.get(side);
                ThreadCpu threadsBefore = side.equals("relay") && options.daemonPid() != 0 ? ThreadCpu.of(options.daemonPid()) : null;
                long cpuBefore = daemonCpuNanos();
                long swtpmBefore = ProcessCpu.nanos(pids);
                long clientBefore = ProcessCpu.nanos(self);
                long wallBefore = System.nanoTime();
                RunResult r = ClientRun.run(name + "-" + side, side.equals("relay") ? relay : baselines.get(side), workload, warmup,
                        commands);
                wall.merge(side, System.nanoTime() - wallBefore, Long::sum);
                long client = ProcessCpu.nanos(self) - clientBefore;
                clientCpu.merge(side, client, Long::sum);
                long swtpm = ProcessCpu.nanos(pids) - swtpmBefore;
                swtpmCpu.merge(side, swtpm, Long::sum);
                partiesCpu.merge(side, client + swtpm + (side.equals("relay") ? daemonCpuNanos() - cpuBefore : 0), Long::sum);
                runs.get(side).add(r);
                report.measured(round, side, r);
                daemonCpu += side.equals("relay") ? daemonCpuNanos() - cpuBefore : 0;
                if (threadsBefore != null) {
                    ThreadCpu.of(options.daemonPid()).since(threadsBefore).forEach((thread, d) ->
                            daemonThreads.merge(thread, d[ThreadCpu.NANOS], Long::sum));
                }
            }
        }
        // Over whole runs (warm-up and every client's last commands too): the daemon is busy for all of them.
        long perSide = (long) options.rounds() * relay.size() * (warmup + commands);
        lastCpuMicrosPerCommand = options.daemonPid() == 0 ? -1 : daemonCpu / 1e3 / perSide;
        lastSwtpmMicrosPerCommand.clear();
        swtpmCpu.forEach((side, nanos) -> lastSwtpmMicrosPerCommand.put(side, nanos / 1e3 / perSide));
        lastClientMicrosPerCommand.clear();
        clientCpu.forEach((side, nanos) -> lastClientMicrosPerCommand.put(side, nanos / 1e3 / perSide));
        lastBusyCores.clear();
        partiesCpu.forEach((side, nanos) -> lastBusyCores.put(side, (double) nanos / wall.get(side)));
        if (lastCpuMicrosPerCommand >= 0) {
            report.note(String.format(Locale.ROOT, "daemon_cpu_us_per_cmd=%.1f: CPU time of the daemon process (all threads)"
                    + " per relayed command; swtpm's own per command: %s", lastCpuMicrosPerCommand, lastSwtpmMicrosPerCommand));
            // Which threads it was (schedstat): the data path's, or leftovers such as the JIT or a pool being refilled.
            report.note("daemon threads, us per relayed command: " + daemonThreads.entrySet().stream()
                    .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(6)
                    .map(e -> String.format(Locale.ROOT, "%s=%.1f", e.getKey().replace(' ', '_'), e.getValue() / 1e3 / perSide))
                    .collect(java.util.stream.Collectors.joining(" ")));
        }
        return runs;
    }

    /**
     * The daemon's CPU per relayed command of the case just measured, swtpm's own CPU per command on the relay's side and
     * on {@code baseline}'s, and the clients' (this process's), for its RATIO line (CPU time from /proc: 10 ms ticks, so
     * only meaningful over runs of seconds). {@code cpu_ceiling} is every party's CPU per command on the baseline's side
     * over the relay's: when the cores are what limits both sides (busy_cores near the machine's count), the relay's
     * aggregate throughput against the baseline's cannot exceed it, however fast the daemon's own part is.
     */
    private String cpuNote(String baseline) {
        if (lastCpuMicrosPerCommand < 0) {
            return "";
        }
        double swtpm = lastSwtpmMicrosPerCommand.getOrDefault("relay", -1.0);
        double rawSwtpm = lastSwtpmMicrosPerCommand.getOrDefault(baseline, -1.0);
        double client = lastClientMicrosPerCommand.getOrDefault("relay", -1.0);
        double rawClient = lastClientMicrosPerCommand.getOrDefault(baseline, -1.0);
        double ceiling = (rawClient + rawSwtpm) / (client + lastCpuMicrosPerCommand + swtpm);
        return String.format(Locale.ROOT, "daemon_cpu_us_per_cmd=%.1f swtpm_cpu_us_per_cmd=%.1f raw_swtpm_cpu_us_per_cmd=%.1f"
                        + " client_cpu_us_per_cmd=%.1f raw_client_cpu_us_per_cmd=%.1f cpu_ceiling=%.2f busy_cores=%.2f"
                        + " raw_busy_cores=%.2f", lastCpuMicrosPerCommand, swtpm, rawSwtpm, client, rawClient, ceiling,
                lastBusyCores.getOrDefault("relay", -1.0), lastBusyCores.getOrDefault(baseline, -1.0));
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

    /**
     * The vTPMs' generations summed, as the daemon's store holds them (record files and commit log, read as a second
     * process does): one more per checkpoint.
     */
    private long generations(List<String> uuids) throws Exception {
        Path state = options.daemonState();
        InstanceStore store = InstanceStore.shared(state.resolve("instances"), MasterKey.load(state.resolve("master.key")));
        long sum = 0;
        for (String uuid : uuids) {
            sum += store.load(Uuid.parse(uuid)).orElseThrow(() -> new IllegalStateException("no stored vTPM " + uuid + " in " + state))
                    .generation();
        }
        return sum;
    }

    /** A folder and the file system it is on, e.g. {@code /tmp/x (ext4 /dev/vda)}. */
    private static String where(Path dir) throws IOException {
        java.nio.file.FileStore store = Files.getFileStore(Files.createDirectories(dir));
        return dir + " (" + store.type() + " " + store.name() + ")";
    }
}
