package org.vtpmback.test.faults.guest;

import com.sun.tools.attach.VirtualMachine;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.management.MBeanServerConnection;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * The vtpmback daemon under attack, in a process of its own as an operator runs it: the packaged
 * launcher ({@code <dist>/bin/vtpmback daemon}: its heap cap and JVM options, plus
 * {@code VTPMBACK_JAVA_OPTS}) when a distribution is given, else {@code java -cp <this class path>}; host = simulated, its state and runtime folders
 * given by the caller. A monitor thread samples the daemon JVM every {@value #SAMPLE_MILLIS} ms:
 * heap used and JVM threads over JMX (the attach API starts the daemon's local management agent),
 * and from {@code /proc} its resident memory, OS threads, open files and swtpm children; the maxima
 * are kept per measuring window ({@link #resetPeaks()}). A daemon that exits without {@link #close()}
 * counts as a crash.
 */
final class DaemonUnderTest implements AutoCloseable {
    private static final long SAMPLE_MILLIS = 100;
    private static final Duration READY_WAIT = Duration.ofSeconds(90);

    /** Maxima of one window; -1 where the value could not be read. */
    record Peaks(long heapUsedMb, long jvmThreads, long osThreads, long rssMb, long fds, long swtpms) {
        String format() {
            return "heap_max_mb=" + heapUsedMb + " threads_max=" + osThreads + " jvm_threads_max=" + jvmThreads + " rss_max_mb="
                    + rssMb + " fds_max=" + fds + " swtpm_max=" + swtpms;
        }
    }

    private final String name;
    private final Process process;
    private final Path log;
    private final Thread monitor;
    private JMXConnector jmx;
    private String jmxMissing = "JMX not attached";
    private MemoryMXBean memory;
    private ThreadMXBean threads;
    private volatile boolean stopping;
    /** Why the last {@link #heapAfterGcMb()} read -1 (a case must say it, not pass a check it could not make). */
    private volatile String heapUnreadable = "not sampled yet";
    private long heap = -1;
    private long jvmThreads = -1;
    private long osThreads = -1;
    private long rss = -1;
    private long fds = -1;
    private long swtpms = -1;

    private DaemonUnderTest(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.monitor = new Thread(this::sampleLoop, "faults-monitor-" + name);
        monitor.setDaemon(true);
    }

    /**
     * Starts a daemon named {@code name} (for messages) with {@code settings} ({@code --set} values)
     * and waits for its readiness line. {@code dist} is the unpacked distribution or null.
     */
    static DaemonUnderTest start(String name, Path dist, String javaOpts, Path log, List<String> settings) throws Exception {
        List<String> cmd = new ArrayList<>();
        if (dist != null) {
            cmd.add(dist.resolve("bin/vtpmback").toString());
        } else {
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            // What the packaged launcher gives the daemon, unless told otherwise.
            String opts = javaOpts.isBlank() ? "-Xmx256m -XX:+ExitOnOutOfMemoryError" : javaOpts;
            cmd.addAll(List.of(opts.trim().split("\\s+")));
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "org.vtpmback.hotplug.cli.Main"));
        }
        cmd.add("daemon");
        for (String s : settings) {
            cmd.addAll(List.of("--set", s));
        }
        Files.createDirectories(log.getParent());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Map<String, String> env = pb.environment();
        env.put("VTPMBACK_JAVA_OPTS", javaOpts);
        long logStart = Files.exists(log) ? Files.size(log) : 0;
        Process p = pb.start();
        DaemonUnderTest d = new DaemonUnderTest(name, p, log);
        long deadline = System.nanoTime() + READY_WAIT.toNanos();
        while (!d.logSince(logStart).contains("serving backend domain")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IllegalStateException("daemon " + name + (p.isAlive() ? " not ready in " + READY_WAIT : " exited "
                        + p.waitFor()) + "; log:\n" + d.logSince(logStart));
            }
            Thread.sleep(50);
        }
        d.attachJmx();
        d.monitor.start();
        return d;
    }

    private void attachJmx() {
        try {
            VirtualMachine vm = VirtualMachine.attach(Long.toString(process.pid()));
            String url;
            try {
                url = vm.startLocalManagementAgent();
            } finally {
                vm.detach();
            }
            jmx = JMXConnectorFactory.connect(new JMXServiceURL(url));
            MBeanServerConnection mbs = jmx.getMBeanServerConnection();
            memory = ManagementFactory.newPlatformMXBeanProxy(mbs, ManagementFactory.MEMORY_MXBEAN_NAME, MemoryMXBean.class);
            threads = ManagementFactory.newPlatformMXBeanProxy(mbs, ManagementFactory.THREAD_MXBEAN_NAME, ThreadMXBean.class);
        } catch (Exception | LinkageError e) {
            // Reachable when the suite's JVM lacks jdk.attach (a JRE), the daemon runs as another user or
            // with -XX:+DisableAttachMechanism, or its management agent cannot start.
            jmxMissing = "no JMX connection to daemon pid " + process.pid() + " (attach API: " + e + ")";
            System.out.println("   note: no JMX on daemon " + name + " (" + e + "); heap figures will read -1");
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** 1 if the daemon died without being asked to stop, else 0. */
    int crashes() {
        return !stopping && !process.isAlive() ? 1 : 0;
    }

    Optional<Integer> exitStatus() {
        return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
    }

    private void sampleLoop() {
        while (!stopping && process.isAlive()) {
            sample();
            try {
                Thread.sleep(SAMPLE_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void sample() {
        long h = -1;
        long jt = -1;
        if (memory != null) {
            try {
                h = memory.getHeapMemoryUsage().getUsed();
                jt = threads.getThreadCount();
            } catch (RuntimeException e) {
                // the daemon is going away; /proc tells
            }
        }
        long[] status = procStatus();
        long f = countFds();
        long s = ProcessHandle.of(process.pid()).map(ph -> ph.descendants()
                .filter(c -> c.info().command().map(cmd -> cmd.endsWith("swtpm")).orElse(false)).count()).orElse(-1L);
        synchronized (this) {
            heap = Math.max(heap, h);
            jvmThreads = Math.max(jvmThreads, jt);
            rss = Math.max(rss, status[0]);
            osThreads = Math.max(osThreads, status[1]);
            fds = Math.max(fds, f);
            swtpms = Math.max(swtpms, s);
        }
    }

    /** VmRSS (bytes) and Threads from /proc/pid/status; -1 where unreadable. */
    private long[] procStatus() {
        long[] out = {-1, -1};
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    out[0] = Long.parseLong(line.replaceAll("\\D", "")) * 1024;
                } else if (line.startsWith("Threads:")) {
                    out[1] = Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // exited
        }
        return out;
    }

    private long countFds() {
        try (var s = Files.list(Path.of("/proc", Long.toString(process.pid()), "fd"))) {
            return s.count();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Maxima since the last reset, sampled once more now. */
    Peaks peaks() {
        sample();
        synchronized (this) {
            return new Peaks(heap < 0 ? -1 : heap >> 20, jvmThreads, osThreads, rss < 0 ? -1 : rss >> 20, fds, swtpms);
        }
    }

    synchronized void resetPeaks() {
        heap = jvmThreads = osThreads = rss = fds = swtpms = -1;
    }

    /**
     * Heap in use right after a full GC asked of the daemon (live data: what a queue would hold); -1
     * when it cannot be read, {@link #heapUnreadable()} says why.
     */
    long heapAfterGcMb() {
        if (memory == null) {
            heapUnreadable = jmxMissing;
            return -1;
        }
        if (!process.isAlive()) {
            heapUnreadable = "daemon pid " + process.pid() + " exited";
            return -1;
        }
        try {
            memory.gc();
            return memory.getHeapMemoryUsage().getUsed() >> 20;
        } catch (RuntimeException e) {
            heapUnreadable = "JMX call to daemon pid " + process.pid() + " failed: " + e;
            return -1;
        }
    }

    /** Why the last {@link #heapAfterGcMb()} that read -1 could not read the heap. */
    String heapUnreadable() {
        return heapUnreadable;
    }

    /** The daemon's log from {@code offset} (bytes) on. */
    String logSince(long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        return new String(all, (int) Math.min(offset, all.length), (int) Math.max(0, all.length - offset), StandardCharsets.UTF_8);
    }

    long logSize() throws IOException {
        return Files.size(log);
    }

    /** The last {@code n} lines of the log. */
    String logTail(int n) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    Path log() {
        return log;
    }

    /** SIGTERM (it saves and stops its vTPMs), SIGKILL after 45 s. */
    @Override
    public void close() throws InterruptedException {
        stopping = true;
        monitor.interrupt();
        if (jmx != null) {
            try {
                jmx.close();
            } catch (IOException e) {
                // the daemon may be gone already
            }
        }
        process.destroy();
        if (!process.waitFor(45, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        // swtpm children of a daemon that died are orphans now: stop those of this run's runtime folder.
    }
}
