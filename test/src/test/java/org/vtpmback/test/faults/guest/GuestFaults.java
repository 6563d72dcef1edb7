package org.vtpmback.test.faults.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * The guest fault suite of {@code scripts/faults.sh guest} (issue 9, "Figures to reach"): a hostile
 * guest against the packaged daemon on a simulated Xen host with a real xenstored and real swtpm,
 * seeded, reporting counts. Each case prints one {@code FAULTS guest <case> key=value ...
 * result=PASS|FAIL|SKIPPED} line; a count the issue fixes that came out wrong is a violation, and any
 * violation makes the exit status 1. A case this machine cannot run (enospc without root) is SKIPPED
 * and counted apart, never PASS. Latency is only compared as a ratio of the neighbour's p99 under
 * attack to its quiet p99 in the same run, never asserted against the clock (the long profile prints
 * PASS/FAIL against 2x).
 *
 * <p>Cases: {@code pages} fuzzed shared pages; {@code xenstore} hostile writes over the guest's own
 * xenstored connection; {@code backend-nodes} the guest writing its backend's nodes on cxenstored
 * and oxenstored; {@code keygen-flood} notifications during RSA key generation; {@code swtpm} swtpm
 * killed, crashing in a loop and (long profile) hung mid-command; {@code enospc} a save failing
 * for lack of space.
 */
public final class GuestFaults {
    private GuestFaults() {
    }

    public static void main(String[] args) throws Exception {
        FaultOptions o;
        try {
            o = FaultOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("faults: " + e.getMessage());
            System.err.println(FaultOptions.USAGE);
            System.exit(2);
            return;
        }
        // The emulators' INFO lines would drown the summary; the daemon logs to its own file.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        System.exit(run(o) ? 0 : 1);
    }

    static boolean run(FaultOptions o) throws Exception {
        long t0 = System.nanoTime();
        System.out.printf(Locale.ROOT, "== vtpmback guest fault suite, %s%n   machine: %d cores, %s %s, Java %s, %s; load %s%n   %s%n",
                ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name"), System.getProperty("os.version"), System.getProperty("java.version"), swtpmVersion(),
                loadAverage(), o);
        List<CaseLine> lines = new ArrayList<>();
        boolean root = isRoot();
        FaultHost host = FaultHost.start("c", XenstoredDaemon.Flavour.C, o.work().resolve("c"), o, root && o.cases().contains("enospc"));
        try {
            for (String name : o.cases()) {
                CaseLine line = new CaseLine(name);
                if (FaultOptions.PENDING.containsKey(name) && !o.casesNamed()) {
                    System.out.println(line.put("pending", "not-yet-fixed").line().replace("result=PASS", "result=PENDING")
                            + "\n   pending: " + FaultOptions.PENDING.get(name) + "; run it with --cases " + name);
                    continue;
                }
                lines.add(line);
                if (!host.daemon.isAlive()) {
                    line.violation("not run: the daemon died earlier");
                    System.out.println(line.line());
                    continue;
                }
                runCase(host, o, line);
                System.out.println(line.line());
                for (String v : line.violations()) {
                    System.out.println("   violation: " + v);
                }
                if (!host.daemon.isAlive()) {
                    System.out.println("   the daemon exited with " + host.daemon.exitStatus().orElse(-1) + "; its log ends with:\n"
                            + host.daemon.logTail(30).indent(4));
                }
            }
        } finally {
            host.close();
        }
        System.out.println(total(lines, o.seed(), o.longProfile() ? "long" : "short", (System.nanoTime() - t0) / 1e9));
        return lines.stream().allMatch(CaseLine::passed);
    }

    /**
     * The suite's last line. Skipped cases do not fail the run (CI runs as root, where none is
     * skipped), but they are counted apart: a "PASS" must not hide a check that never ran.
     */
    static String total(List<CaseLine> lines, long seed, String profile, double seconds) {
        long failed = lines.stream().filter(l -> !l.passed()).count();
        long skipped = lines.stream().filter(CaseLine::skipped).count();
        return String.format(Locale.ROOT, "FAULTS guest total cases=%d failed=%d skipped=%d seed=%d profile=%s duration_s=%.0f result=%s",
                lines.size(), failed, skipped, seed, profile, seconds, failed == 0 ? "PASS" : "FAIL");
    }

    /**
     * Opens the neighbour's quiet window, then its attack window for the case, and adds what every
     * case reports: the daemon's peaks, its heap after a GC, its log lines, crashes, the neighbour.
     */
    private static void runCase(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        Neighbour.Window quiet = h.neighbour.window(line.name() + "-quiet");
        Thread.sleep(o.quiet().toMillis());
        h.daemon.resetPeaks();
        long logStart = h.daemon.logSize();
        Neighbour.Window attack = h.neighbour.window(line.name() + "-attack");
        try {
            switch (line.name()) {
                case "pages" -> PagesCase.run(h, o, line);
                case "xenstore" -> XenstoreCase.run(h, o, line);
                case "backend-nodes" -> BackendNodesCase.run(h, o, line);
                case "keygen-flood" -> KeygenFloodCase.run(h, o, line);
                case "swtpm" -> SwtpmCase.run(h, o, line);
                case "enospc" -> EnospcCase.run(h, o, line);
                default -> throw new IllegalArgumentException(line.name());
            }
        } catch (Exception | AssertionError e) {
            line.violation("case aborted: " + e);
            e.printStackTrace(System.out);
        }
        h.neighbour.window("between");
        line.put(h.daemon.peaks().format());
        line.put("heap_after_gc_mb", h.daemon.heapAfterGcMb());
        line.put("daemon_log_lines", h.daemon.logSince(logStart).lines().count());
        line.count("crashes", h.daemon.crashes(), 0);
        line.count("neighbour_failures", quiet.failures() + attack.failures(), 0);
        if (attack.failures() > 0) {
            System.out.println("   neighbour's first failure: " + attack.firstFailure());
        }
        line.put(Neighbour.compare(quiet, attack, o.longProfile()));
    }

    private static boolean isRoot() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("Uid:"))
                    .anyMatch(l -> l.split("\\s+")[1].equals("0"));
        } catch (IOException e) {
            return false;
        }
    }

    private static String swtpmVersion() {
        try {
            Process p = new ProcessBuilder("swtpm", "--version").redirectErrorStream(true).start();
            String v = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            return v.replaceAll(".*version ", "swtpm ").lines().findFirst().orElse("swtpm ?");
        } catch (IOException | InterruptedException e) {
            return "swtpm ?";
        }
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
