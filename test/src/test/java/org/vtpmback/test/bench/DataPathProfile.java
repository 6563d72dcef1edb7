package org.vtpmback.test.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the daemon's time goes per relayed command ({@code scripts/bench.sh --datapath}): one guest sends
 * the command mix back to back; over the measured window it prints, per daemon thread, the CPU time and
 * the context switches per command, the same for the guest's swtpm, and with {@code --strace FILE} the
 * daemon's system calls counted by {@code strace -c -f} over the same window (strace slows every call
 * it sees: its window's times are not the figures, only its counts are), or with {@code --perf FILE} a
 * {@code perf record} of the daemon over the window. Not a test.
 *
 * <p>Usage: {@code DataPathProfile --xenstored SOCKET --sim DIR --work DIR --daemon-pid PID [--prime N]
 * [--commands N] [--strace FILE | --perf FILE]}.
 */
public final class DataPathProfile {
    private DataPathProfile() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        long daemon = Long.parseLong(o.get("daemon-pid"));
        int prime = Integer.parseInt(o.getOrDefault("prime", "30000"));
        int commands = Integer.parseInt(o.getOrDefault("commands", "20000"));
        try (RelayGuests relay = RelayGuests.boot(Path.of(o.get("xenstored")), Path.of(o.get("sim")), Path.of(o.get("work")), 1)) {
            List<TpmClient> client = relay.clients(1);
            ClientRun.run("prime", client, Workload.MIX, 0, prime);
            List<Long> swtpm = ProcessCpu.swtpmDescendants(daemon).stream().filter(pid -> ProcessHandle.of(pid).isPresent()).toList();
            Process strace = null;
            if (o.containsKey("strace")) {
                strace = new ProcessBuilder("strace", "-c", "-f", "-o", o.get("strace"), "-p", Long.toString(daemon))
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                Thread.sleep(1000); // strace attaches to every thread before the window opens
            } else if (o.containsKey("perf")) {
                // Sampled on the CPU clock (no hardware counters in a VM); read it with perf report once the daemon
                // has exited and written its JIT symbol map (-XX:+DumpPerfMapAtExit).
                strace = new ProcessBuilder("perf", "record", "-e", "cpu-clock", "-F", "4999", "-g", "-o", o.get("perf"), "-p",
                        Long.toString(daemon)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                Thread.sleep(1000);
            }
            ThreadCpu before = ThreadCpu.of(daemon);
            long swtpmBefore = ProcessCpu.schedNanos(swtpm);
            RunResult r = ClientRun.run("profile", client, Workload.MIX, 0, commands);
            long swtpmAfter = ProcessCpu.schedNanos(swtpm);
            Map<String, long[]> threads = ThreadCpu.of(daemon).since(before);
            if (strace != null) {
                new ProcessBuilder("kill", "-INT", Long.toString(strace.pid())).start().waitFor();
                strace.waitFor();
            }
            System.out.printf(Locale.ROOT, "PROFILE commands=%d median_us=%.1f p99_us=%.1f ops_per_s=%.0f%n", commands,
                    r.medianMicros(), r.p99Micros(), r.opsPerSecond());
            long total = 0;
            for (Map.Entry<String, long[]> e : threads.entrySet()) {
                long[] v = e.getValue();
                total += v[ThreadCpu.NANOS];
                System.out.printf(Locale.ROOT, "THREAD %-16s cpu_us_per_cmd=%6.2f system_share=%3.0f%% voluntary_switches_per_cmd=%5.2f"
                        + " involuntary_per_cmd=%5.2f%n", e.getKey(), v[ThreadCpu.NANOS] / 1e3 / commands,
                        100.0 * v[ThreadCpu.STIME] / Math.max(1, v[ThreadCpu.UTIME] + v[ThreadCpu.STIME]),
                        (double) v[ThreadCpu.VOLUNTARY] / commands, (double) v[ThreadCpu.INVOLUNTARY] / commands);
            }
            System.out.printf(Locale.ROOT, "DAEMON cpu_us_per_cmd=%.2f%nSWTPM cpu_us_per_cmd=%.2f%n", total / 1e3 / commands,
                    (swtpmAfter - swtpmBefore) / 1e3 / commands);
            if (o.containsKey("strace")) {
                System.out.println("STRACE (daemon, all threads, " + commands + " commands; counts only):");
                Files.readAllLines(Path.of(o.get("strace"))).forEach(l -> System.out.println("   " + l));
            }
        }
    }
}
