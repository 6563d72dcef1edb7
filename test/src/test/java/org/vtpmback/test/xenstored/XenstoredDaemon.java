package org.vtpmback.test.xenstored;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One private instance of the REAL Debian Xen 4.17 xenstored (cxenstored or oxenstored), running
 * without a hypervisor under the LD_PRELOAD shim {@code test/xenstored/xsd-shim.c}. Same recipe as
 * {@code test/xenstored/run-xenstored.sh}, done from Java so that the JVM is the daemon's parent and
 * reaps it.
 *
 * <p>Where things come from: system property {@code xen.root} (the dpkg -x'ed debs, made by
 * {@code scripts/fetch-xen-debs.sh}; default {@code <vtpmback.root>/build/xen-root}) and
 * {@code vtpmback.root} (the repo; the shim source is under {@code test/xenstored}). Surefire sets
 * both from the root pom. gcc compiles the shim into {@code dir} at start.
 *
 * <p>State directory {@code dir} (also the shim dir): socket (c) or run/socket (ocaml), the evtchn
 * FIFO, ring-&lt;domid&gt; pages, domstate/&lt;domid&gt;, daemon.out and the oxenstored logs.
 * Keep {@code dir} short: the socket path must fit in 107 bytes.
 */
public final class XenstoredDaemon implements AutoCloseable {
    public enum Flavour {
        /** cxenstored, {@code /usr/lib/xen-4.17/bin/xenstored}; socket path chosen by XENSTORED_PATH. */
        C,
        /** oxenstored; socket path hard-wired, so it runs in a private mount namespace. */
        OCAML;

        public String id() {
            return this == C ? "c" : "ocaml";
        }
    }

    /** Seconds to wait for the daemon to answer (system property {@code xenstored.start.timeout}). */
    static final long START_TIMEOUT_SECONDS = Long.getLong("xenstored.start.timeout", 20);
    static final String FETCH_HINT = "scripts/fetch-xen-debs.sh";
    private static final int MAX_SOCKET_PATH = 107;

    private final Flavour flavour;
    private final Path dir;
    private final Path socket;
    private final Path xenRoot;
    private final Process process;
    private final Thread shutdownHook;
    private long startMillis;
    private boolean closed;

    private XenstoredDaemon(Flavour flavour, Path dir, Path socket, Path xenRoot, Process process) {
        this.flavour = flavour;
        this.dir = dir;
        this.socket = socket;
        this.xenRoot = xenRoot;
        this.process = process;
        this.shutdownHook = new Thread(process::destroyForcibly, "xenstored-" + process.pid() + "-reaper");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Starts a daemon in {@code dir} (created if needed) and waits until it answers on its socket.
     *
     * @param options C: each entry becomes extra command-line arguments {@code key [value]} (value
     *                omitted when empty), e.g. {@code "--priv-domid" -> "5"}, {@code "-T" -> "/path/trace"}.
     *                OCAML: each entry becomes an oxenstored.conf line {@code key = value}, e.g.
     *                {@code "test-eagain" -> "true"} (commits fail with EAGAIN at random).
     */
    public static XenstoredDaemon start(Flavour flavour, Path dir, Map<String, String> options) throws IOException {
        return start(flavour, dir, options, xenRootFromProperties());
    }

    /** As {@link #start(Flavour, Path, Map)} with an explicit xen root (the dpkg -x'ed Xen 4.17 debs, or {@code /}). */
    public static XenstoredDaemon start(Flavour flavour, Path dir, Map<String, String> options, Path xenRoot) throws IOException {
        long t0 = System.nanoTime();
        requireXenRoot(xenRoot);
        Files.createDirectories(dir);
        dir = dir.toAbsolutePath().normalize();
        Path socket = flavour == Flavour.OCAML ? dir.resolve("run/socket") : dir.resolve("socket");
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException("socket path longer than " + MAX_SOCKET_PATH + " bytes: " + socket + " (use a shorter dir)");
        }
        Path shim = compileShim(dir);

        // Fresh state, as run-xenstored.sh does.
        Files.deleteIfExists(socket);
        Files.deleteIfExists(dir.resolve("evtchn"));
        Files.deleteIfExists(dir.resolve("xsd_kva"));
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s.filter(p -> p.getFileName().toString().startsWith("ring-"))::iterator) {
                Files.delete(p);
            }
        }
        Path domstate = dir.resolve("domstate");
        if (Files.isDirectory(domstate)) {
            try (var s = Files.list(domstate)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(domstate);
        Files.writeString(dir.resolve("flavour"), flavour.id() + "\n");

        Path bin = xenRoot.resolve("usr/lib/xen-4.17/bin");
        List<String> cmd = new ArrayList<>();
        if (flavour == Flavour.OCAML) {
            Files.createDirectories(dir.resolve("run"));
            Files.writeString(dir.resolve("xsd_port"), "1");
            try (FileChannel kva = FileChannel.open(dir.resolve("xsd_kva"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                kva.truncate(0);
                kva.write(ByteBuffer.allocate(4096));
            }
            StringBuilder conf = new StringBuilder()
                    .append("pid-file = ").append(dir.resolve("pid")).append('\n')
                    .append("persistent = false\n")
                    .append("xenstored-log-file = ").append(dir.resolve("xenstored.log")).append('\n')
                    .append("xenstored-log-level = info\n")
                    .append("access-log-file = ").append(dir.resolve("access.log")).append('\n')
                    .append("xenstored-kva = ").append(dir.resolve("xsd_kva")).append('\n')
                    .append("xenstored-port = ").append(dir.resolve("xsd_port")).append('\n');
            options.forEach((k, v) -> conf.append(k).append(" = ").append(v).append('\n'));
            Files.writeString(dir.resolve("oxenstored.conf"), conf.toString());
            // unshare without --fork execs, and so does sh: the Process *is* oxenstored.
            cmd.addAll(List.of("unshare"));
            if (!isRoot()) {
                cmd.addAll(List.of("-U", "-r"));
            }
            cmd.addAll(List.of("-m", "--propagation", "private", "sh", "-c",
                    "mount -t tmpfs xsd /run && mkdir /run/xenstored && mount --bind \"$0/run\" /run/xenstored && exec \"$@\"",
                    dir.toString(), bin.resolve("oxenstored").toString(), "--no-fork",
                    "--config-file", dir.resolve("oxenstored.conf").toString()));
        } else {
            cmd.addAll(List.of(bin.resolve("xenstored").toString(), "-N", "-F", dir.resolve("pid").toString()));
            options.forEach((k, v) -> {
                cmd.add(k);
                if (!v.isEmpty()) {
                    cmd.add(v);
                }
            });
        }
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("daemon.out").toFile());
        Map<String, String> env = pb.environment();
        env.put("LD_LIBRARY_PATH", libDir(xenRoot).toString());
        env.put("XSD_SHIM_DIR", dir.toString());
        env.put("LD_PRELOAD", shim.toString());
        if (flavour == Flavour.C) {
            env.put("XENSTORED_RUNDIR", dir.toString());
            env.put("XENSTORED_PATH", socket.toString());
        }
        Process p = pb.start();
        Files.writeString(dir.resolve("daemon.pid"), p.pid() + "\n");
        XenstoredDaemon d = new XenstoredDaemon(flavour, dir, socket, xenRoot, p);
        try {
            d.awaitReady(t0);
        } catch (IOException | RuntimeException e) {
            String log = d.log();
            d.close();
            throw new IOException(e.getMessage() + "\n--- " + flavour.id() + " xenstored output (" + dir + ") ---\n" + log, e);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("xenstored[%s] pid %d ready in %d ms (%s)%n", flavour.id(), p.pid(), ms, dir);
        d.startMillis = ms;
        return d;
    }

    private void awaitReady(long t0) throws IOException {
        long deadline = t0 + TimeUnit.SECONDS.toNanos(START_TIMEOUT_SECONDS);
        Exception last = null;
        while (true) {
            if (!process.isAlive()) {
                throw new IOException(flavour.id() + " xenstored exited with status " + process.exitValue() + " during start-up");
            }
            if (Files.exists(socket)) {
                try (PrivilegedSocketConnection c = PrivilegedSocketConnection.open(socket)) {
                    c.setTimeout(java.time.Duration.ofSeconds(2));
                    c.directory("/");
                    return;
                } catch (IOException | RuntimeException e) {
                    last = e;
                }
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IOException(flavour.id() + " xenstored not ready after " + START_TIMEOUT_SECONDS + " s"
                        + (last == null ? " (no socket " + socket + ")" : ": " + last));
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while starting xenstored", e);
            }
        }
    }

    // ------------------------------------------------------------------ locations

    static boolean isRoot() {
        try {
            return "0".equals(Files.readString(Path.of("/proc/self/status")).lines()
                    .filter(l -> l.startsWith("Uid:")).findFirst().orElse("Uid: -1").split("\\s+")[1]);
        } catch (IOException e) {
            return false;
        }
    }

    /** The repo root: system property {@code vtpmback.root}, else the nearest ancestor of the cwd holding test/xenstored/xsd-shim.c. */
    public static Path repoRoot() {
        String prop = System.getProperty("vtpmback.root");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("test/xenstored/xsd-shim.c"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the vtpmback repo: set -Dvtpmback.root=<repo> (surefire does this from the root pom)");
    }

    /** System property {@code xen.root}, else {@code <repo>/build/xen-root}. */
    public static Path xenRootFromProperties() {
        String prop = System.getProperty("xen.root");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        return repoRoot().resolve("build/xen-root");
    }

    static Path libDir(Path xenRoot) {
        return xenRoot.resolve("usr/lib/x86_64-linux-gnu");
    }

    /** Fails (never skips) with instructions when the Xen 4.17 user space is not where it should be. */
    public static void requireXenRoot(Path xenRoot) {
        List<String> missing = new ArrayList<>();
        for (String f : List.of("usr/lib/xen-4.17/bin/xenstored", "usr/lib/xen-4.17/bin/oxenstored",
                "usr/lib/x86_64-linux-gnu/libxenstore.so.4")) {
            if (!Files.exists(xenRoot.resolve(f))) {
                missing.add(f);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("The Debian Xen 4.17 user space is missing from xen.root=" + xenRoot
                    + " (no " + String.join(", ", missing) + ").\n"
                    + "Fetch it with: " + FETCH_HINT + " (downloads 11 .debs with apt-get and dpkg -x's them into build/xen-root),\n"
                    + "or point -Dxen.root=<dir> at a folder where they are unpacked (/ if xen-utils-4.17 is installed).");
        }
    }

    private static Path compileShim(Path dir) throws IOException {
        Path src = repoRoot().resolve("test/xenstored/xsd-shim.c");
        if (!Files.isRegularFile(src)) {
            throw new IllegalStateException("shim source not found: " + src);
        }
        Path so = dir.resolve("xsd-shim.so");
        if (Files.exists(so) && Files.getLastModifiedTime(so).compareTo(Files.getLastModifiedTime(src)) >= 0) {
            return so;
        }
        Path log = dir.resolve("gcc.out");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", so.toString(), src.toString(), "-ldl")
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new IOException("cannot run gcc to build the xenstored shim (install gcc; scripts/test.sh does): " + e.getMessage(), e);
        }
        try {
            if (!gcc.waitFor(60, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
                gcc.destroyForcibly();
                throw new IOException("gcc failed to build " + so + ":\n" + Files.readString(log));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while building the shim", e);
        }
        return so;
    }

    // ------------------------------------------------------------------ accessors

    public Flavour flavour() {
        return flavour;
    }

    /** The daemon's UNIX socket (what XENSTORED_PATH must name for libxenstore). */
    public Path socket() {
        return socket;
    }

    /** The shim's state directory (XSD_SHIM_DIR): evtchn FIFO, ring-&lt;domid&gt;, domstate/. */
    public Path shimDir() {
        return dir;
    }

    public Path xenRoot() {
        return xenRoot;
    }

    public long pid() {
        return process.pid();
    }

    /** Milliseconds from {@link #start} until the daemon answered (includes compiling the shim). */
    public long startMillis() {
        return startMillis;
    }

    /**
     * Environment for a client process or libxenstore: LD_LIBRARY_PATH, XENSTORED_PATH, XSD_SHIM_DIR
     * (e.g. to run {@code <xenRoot>/usr/bin/xenstore-read}).
     */
    public Map<String, String> clientEnvironment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("LD_LIBRARY_PATH", libDir(xenRoot).toString());
        env.put("XENSTORED_PATH", socket.toString());
        env.put("XSD_SHIM_DIR", dir.toString());
        return env;
    }

    // ------------------------------------------------------------------ clients and hooks

    /** A new privileged (dom0) raw connection on the socket. */
    public PrivilegedSocketConnection connect() throws IOException {
        return PrivilegedSocketConnection.open(socket);
    }

    /**
     * Does what a toolstack does for a new guest, then returns a connection acting as that guest:
     * creates {@code /local/domain/<domid>} owned by the guest ({@code n<domid>}), XS_INTRODUCEs
     * the domain (mfn and port are ignored by the shim) and maps its ring.
     */
    public GuestRingConnection introduceGuest(int domid) throws IOException {
        try (PrivilegedSocketConnection c = connect()) {
            String home = "/local/domain/" + domid;
            c.mkdir(home);
            c.setPerms(home, "n" + domid);
            c.introduce(domid, 0x1000L + domid, 100 + domid);
        }
        return GuestRingConnection.open(dir, domid);
    }

    /** Writes one line to the shim's evtchn FIFO (O_RDWR: never blocks on open). */
    void evtchnLine(String line) {
        try (FileChannel f = FileChannel.open(dir.resolve("evtchn"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII));
            while (b.hasRemaining()) {
                f.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Event channel kick from {@code domid}: the daemon processes that guest's ring now. */
    public void kick(int domid) {
        evtchnLine("d" + domid);
    }

    /**
     * Simulates the death of {@code domid}: {@code domstate/<domid>} := gone, then a VIRQ_DOM_EXC
     * (an empty line on the evtchn FIFO). The daemon then re-checks its domains, releases this one and
     * fires {@code @releaseDomain}. Asynchronous: wait for the watch or poll
     * {@link RawXenstoreConnection#isDomainIntroduced}.
     */
    public void killDomain(int domid) {
        setDomainState(domid, "gone");
        evtchnLine("");
    }

    /**
     * Sets what the shim reports for {@code domid}: "gone", "dying", "shutdown", "crashed", or null
     * for running (the default). Takes effect at the next domain check (see {@link #killDomain}).
     */
    public void setDomainState(int domid, String state) {
        Path f = dir.resolve("domstate").resolve(Integer.toString(domid));
        try {
            if (state == null) {
                Files.deleteIfExists(f);
            } else {
                Files.writeString(f, state + "\n");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Daemon output and, for oxenstored, its log: for failure messages. */
    public String log() {
        StringBuilder sb = new StringBuilder();
        for (String name : List.of("daemon.out", "xenstored.log")) {
            Path f = dir.resolve(name);
            if (Files.isRegularFile(f)) {
                try {
                    String s = Files.readString(f);
                    if (s.length() > 8000) {
                        s = "..." + s.substring(s.length() - 8000);
                    }
                    sb.append("[").append(name).append("]\n").append(s);
                } catch (IOException e) {
                    sb.append("[").append(name).append(": ").append(e).append("]\n");
                }
            }
        }
        return sb.toString();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Stops the daemon (SIGTERM, SIGKILL after 2 s), reaps it and removes its socket. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            process.destroy();
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // JVM already shutting down
        }
        try {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir.resolve("daemon.pid"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (process.isAlive()) {
            throw new IllegalStateException("xenstored pid " + process.pid() + " did not exit");
        }
    }

    @Override
    public String toString() {
        return "xenstored[" + flavour.id() + ", pid " + process.pid() + ", " + dir + "]";
    }
}
