package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;

/**
 * How much heap the daemon keeps per guest, to size its {@code -Xmx} (packaging/README.md, "Memory"):
 * boots guests in steps against a daemon in another process (scripts/heap-footprint.sh starts it), runs
 * a burst of commands in every guest, then asks the daemon's JVM for its live heap after a full GC
 * ({@code jcmd <pid> GC.class_histogram}, which collects first) and its thread count. One line per step:
 * {@code HEAP guests=N live_bytes=B threads=T rss_kib=R}.
 */
public final class HeapFootprint {
    private static final int COMMANDS_PER_GUEST = 50;

    private HeapFootprint() {
    }

    public static void main(String[] args) throws Exception {
        Path xenstored = null;
        Path sim = null;
        Path work = null;
        long pid = -1;
        List<Integer> steps = List.of(1, 8, 24);
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--xenstored" -> xenstored = Path.of(args[i + 1]);
                case "--sim" -> sim = Path.of(args[i + 1]);
                case "--work" -> work = Path.of(args[i + 1]);
                case "--daemon-pid" -> pid = Long.parseLong(args[i + 1]);
                case "--steps" -> steps = java.util.Arrays.stream(args[i + 1].split(",")).map(Integer::valueOf).toList();
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (xenstored == null || sim == null || work == null || pid < 0) {
            throw new IllegalArgumentException("usage: --xenstored S --sim D --work D --daemon-pid P [--steps 1,8,24]");
        }
        System.out.println(line(0, pid));
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try (SimulatedVtpmHost host = new SimulatedVtpmHost(xenstored, Files.createDirectories(work), sim)) {
            List<Guest> guests = new ArrayList<>();
            for (int target : steps) {
                guests.addAll(host.bootMany(target - guests.size()));
                List<Future<?>> bursts = new ArrayList<>();
                for (Guest g : guests) {
                    bursts.add(clients.submit(() -> {
                        for (int c = 0; c < COMMANDS_PER_GUEST; c++) {
                            g.transmit(TpmPackets.tpm2GetRandom(32));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : bursts) {
                    f.get(5, TimeUnit.MINUTES);
                }
                System.out.println(line(guests.size(), pid));
            }
        } finally {
            clients.shutdownNow();
        }
    }

    private static String line(int guests, long pid) throws IOException, InterruptedException {
        return "HEAP guests=" + guests + " live_bytes=" + liveBytes(pid) + " threads=" + status(pid, "Threads:")
                + " rss_kib=" + status(pid, "VmRSS:").replace(" kB", "");
    }

    /** The "Total" line of the class histogram: every live object after the full GC it starts. */
    private static long liveBytes(long pid) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "GC.class_histogram").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        for (String l : out.lines().toList()) {
            if (l.startsWith("Total")) {
                String[] f = l.trim().split("\\s+");
                return Long.parseLong(f[2]);
            }
        }
        throw new IllegalStateException("no Total line from jcmd: " + out);
    }

    private static String status(long pid, String key) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.startsWith(key))
                .map(l -> l.substring(key.length()).trim()).findFirst().orElse("?");
    }
}
