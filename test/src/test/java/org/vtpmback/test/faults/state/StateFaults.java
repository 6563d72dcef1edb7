package org.vtpmback.test.faults.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.state.InstanceBundle;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * Cuts the vtpmback daemon at random points of its real work and checks that the vTPM state it
 * acknowledged is still there. One guest writes an incrementing NV counter (each acknowledged value
 * recorded), reboots, is saved and restored, migrates, and new vTPMs are manufactured beside it.
 * At each point the daemon dies: at its n-th durability event (an fsync or rename in the state
 * folder, before or after it: inside the save that follows a state-changing command), or after a
 * random delay of microseconds to seconds into the operation, or at rest once the operation is done.
 *
 * <p>{@link Mode#POWER}: the swtpm processes die too, the state folder is rebuilt with only what
 * fsync made durable ({@link CrashFs}) and the runtime folder (tmpfs) is emptied. {@link Mode#KILL}:
 * kill -9 of the daemon alone; its swtpm processes survive and are taken over. Then the daemon starts
 * again; the guest's instance must load, its counter must hold the last acknowledged value or the one
 * in flight, and every manufactured vTPM whose guest saw its TPM must load from the store.
 */
final class StateFaults implements AutoCloseable {
    enum Mode { POWER, KILL }

    enum Op { NV_WRITES, REBOOT, SAVE_RESTORE, MIGRATE, MANUFACTURE, IMPORT }

    enum Cut { AT_EVENT, AFTER_DELAY, AT_REST }

    private static final int COUNTER_INDEX = 0x1500031;
    private static final Duration COMMAND_WAIT = Duration.ofSeconds(20);
    private static final boolean VERBOSE = Boolean.getBoolean("faults.state.verbose");
    private static final Duration PATIENCE = Duration.ofMinutes(3);
    private static final Duration OP_WAIT = Duration.ofSeconds(150);

    /**
     * @param hung operations that neither ended nor failed within {@link #OP_WAIT} after the restart: counted, not a
     *             failure of the run yet (a guest must come back or be failed loudly; a refusal now ends the wait)
     */
    record Summary(Mode mode, int points, int lost, int unloadable, int phantom, int hung, long seed, Duration took,
            Map<Op, Integer> ops, Map<Cut, Integer> cuts, long acked, Map<String, Integer> syncs, List<String> failures) {
        String line() {
            return "FAULTS state " + mode.name().toLowerCase() + " points=" + points + " lost=" + lost + " unloadable=" + unloadable
                    + " phantom=" + phantom + " hung=" + hung + " seed=" + seed + " duration=" + took.toSeconds() + "s per-point="
                    + (points == 0 ? 0 : took.toMillis() / points) + "ms acked-writes=" + acked + " cuts=" + lower(cuts) + " ops="
                    + lower(ops) + " syncs=" + lower(syncs) + " result=" + (lost + unloadable + phantom == 0 ? "PASS" : "FAIL");
        }

        private static String lower(Map<?, Integer> m) {
            StringBuilder b = new StringBuilder();
            m.forEach((k, v) -> b.append(b.length() == 0 ? "" : ",").append(k.toString().toLowerCase().replace('_', '-')).append(':')
                    .append(v));
            return b.toString();
        }
    }

    private final Path xenstored;
    private final Path work;
    private final Mode mode;
    private final long seed;
    private final Random random;
    private final SimulatedVtpmHost host;
    private final CrashFs fs;
    private final Path state;
    private final Path run;
    private final ExecutorService workers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "state-faults-op");
        t.setDaemon(true);
        return t;
    });
    private final String uuid = UUID.randomUUID().toString();
    private final List<Guest> domains = new ArrayList<>(); // the uuid's domains; the last one is the guest
    private final List<String> manufactured = new ArrayList<>();
    /** vTPMs whose {@code vtpmback import} exited 0: they must never be lost. */
    private final List<String> imported = new ArrayList<>();
    /** vTPMs whose import was cut: absent or loadable, never unloadable. */
    private final List<String> importsCut = new ArrayList<>();
    /** A real permanent state (the guest's, at the start) that the imported bundles carry. */
    private byte[] importState;
    /** The import command running now, if any: a power cut takes it down too. */
    private volatile Process importing;
    /** The shim killed the import at its chosen event (a cut inside the import). */
    private volatile boolean importCut;
    private final List<Guest> strays = new ArrayList<>(); // manufactured guests not destroyed yet
    private final List<String> failures = new ArrayList<>();
    private int hung;
    private final Map<Op, Integer> ops = new EnumMap<>(Op.class);
    private final Map<Cut, Integer> cuts = new EnumMap<>(Cut.class);
    /** The daemons' syncs in the state folder: the commit log's fdatasyncs (checkpoints) apart from the rest. */
    private final Map<String, Integer> syncs = new java.util.TreeMap<>();
    private CutDaemon daemon;
    /** The thread running the current point's operation, while it runs (a hang prints its stack). */
    private volatile Thread opThread;
    private List<String> jvmOptions = List.of();
    private Path progress;
    private int life;
    private volatile long acked;
    private volatile boolean inFlight;
    private int lost;
    private int unloadable;
    private int phantom;

    StateFaults(Path xenstored, Path work, Mode mode, long seed) throws IOException {
        this.xenstored = xenstored;
        this.work = work;
        this.mode = mode;
        this.seed = seed;
        this.random = new Random(seed);
        this.host = new SimulatedVtpmHost(xenstored, Files.createDirectories(work.resolve("guests")), work.resolve("sim"));
        this.fs = new CrashFs(work.resolve("state"), work.resolve("shadow"), work.resolve("crashfs"));
        this.state = fs.root();
        this.run = work.resolve("run");
        Files.createDirectories(work.resolve("logs"));
    }

    /** Up to {@code points} points, fewer if {@code budget} runs out first (the summary says how many). */
    Summary run(int points, Duration budget) throws Exception {
        long start = System.nanoTime();
        long deadline = start + budget.toNanos();
        warmUp();
        startDaemon();
        Guest g = bootPatiently(uuid);
        domains.add(g);
        expectOk(g.transmit(TpmCommands.nvDefineSpace(COUNTER_INDEX, 8)), "NV_DefineSpace");
        expectOk(g.transmit(TpmCommands.nvWrite(COUNTER_INDEX, counterBytes(0))), "NV_Write 0");
        importState = InstanceStore.shared(state.resolve("instances"), MasterKey.load(state.resolve("master.key")))
                .load(Uuid.parse(uuid)).orElseThrow().permanent();
        Files.writeString(Files.createDirectories(work.resolve("import")).resolve("passphrase"), "state faults\n");
        int done = 0;
        while (done < points && System.nanoTime() < deadline) {
            point(++done);
            if (progress != null) {
                Files.writeString(progress, summary(done, start).line() + "\n");
            }
        }
        daemon.stop();
        daemon = null;
        countSyncs();
        return summary(done, start);
    }

    private Summary summary(int done, long start) {
        return new Summary(mode, done, lost, unloadable, phantom, hung, seed, Duration.ofNanos(System.nanoTime() - start), new EnumMap<>(ops),
                new EnumMap<>(cuts), acked, new java.util.TreeMap<>(syncs), List.copyOf(failures));
    }

    /** After every point, the summary so far is written to {@code file} (a long run that dies keeps its figures). */
    StateFaults progressTo(Path file) {
        this.progress = file;
        return this;
    }

    private void point(int point) throws Exception {
        long t0 = System.nanoTime();
        Op op = pickOp();
        ops.merge(op, 1, Integer::sum);
        importCut = false;
        Cut cut = random.nextBoolean() ? Cut.AT_EVENT : Cut.AFTER_DELAY;
        int burst = 1 + random.nextInt(6);
        if (cut == Cut.AT_EVENT && op == Op.IMPORT) {
            // the import command's own events, numbered from 1 in its process (the daemon is idle meanwhile)
            fs.killAt(1 + random.nextInt(6), random.nextBoolean()); // an import makes 6 (record and anchor)
        } else if (cut == Cut.AT_EVENT) {
            // An NV write's checkpoint is one event (the commit log's fdatasync); other operations make full saves.
            int window = op == Op.NV_WRITES ? burst + 1 : 16;
            fs.killAt(fs.events().size() + 1 + random.nextInt(window), random.nextBoolean());
        }
        long delayNanos = op == Op.NV_WRITES ? (long) (random.nextDouble() * burst * 20_000_000L)
                : (long) (random.nextDouble() * 3_000_000_000L);
        Future<?> worker = workers.submit(() -> {
            opThread = Thread.currentThread();
            try {
                operation(op, burst);
            } finally {
                opThread = null;
            }
            return null;
        });
        boolean died = false;
        if (cut == Cut.AFTER_DELAY) {
            LockSupport.parkNanos(delayNanos);
        } else if (op == Op.IMPORT) {
            worker.get(OP_WAIT.toSeconds(), TimeUnit.SECONDS); // ends when the import exits or the shim kills it
        } else {
            while (!(died = daemon.awaitDeath(Duration.ofMillis(10))) && !worker.isDone()) {
                // the shim kills the daemon at the chosen event, if the operation reaches it
            }
        }
        if (!died && !daemon.isAlive()) {
            died = true;
        }
        if (!died) {
            if (cut == Cut.AT_EVENT && !(op == Op.IMPORT && importCut)) {
                cut = Cut.AT_REST;
            }
            daemon.kill();
        }
        cuts.merge(cut, 1, Integer::sum);
        fs.disarm();
        Path lastLog = currentLog();
        if (mode == Mode.POWER) {
            Process imp = importing;
            if (imp != null) {
                imp.destroyForcibly().waitFor(); // the power is gone for every process
            }
            killSwtpms();
            countSyncs(); // the cut rebuilds the shadow, event list included
            fs.powerCut();
            CrashFs.deleteTree(run);
        }
        long t1 = System.nanoTime();
        startDaemon();
        long t2 = System.nanoTime();
        String ended = "done";
        try {
            worker.get(OP_WAIT.toSeconds(), TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            // the operation the cut interrupted; the checks below decide whether anything was lost
            ended = String.valueOf(e.getCause());
        } catch (TimeoutException e) {
            String where = "point " + point + " (" + op + ", " + cut + ")";
            System.out.println(describeHang(where, lastLog));
            worker.cancel(true);
            ended = "hung";
            hung++;
            failures.add(where + ": the operation hung; logs kept as " + keepHangLogs(point, lastLog));
        }
        long t3 = System.nanoTime();
        check(point, op, cut, lastLog);
        if (VERBOSE) {
            System.out.printf("point %d %s %s: cut %d ms, restart %d ms, operation end %d ms, check %d ms, counter %d; operation: %s%n",
                    point, op, cut, (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000,
                    (System.nanoTime() - t3) / 1_000_000, acked, ended);
        }
    }

    private Op pickOp() {
        int r = random.nextInt(100);
        return r < 50 ? Op.NV_WRITES : r < 63 ? Op.REBOOT : r < 76 ? Op.SAVE_RESTORE : r < 88 ? Op.MIGRATE
                : r < 95 ? Op.MANUFACTURE : Op.IMPORT;
    }

    /** One operation of the guest's and the toolstack's, as far as it gets before the cut. */
    private void operation(Op op, int burst) throws Exception {
        switch (op) {
            case NV_WRITES -> {
                for (int i = 0; i < burst; i++) {
                    writeNext();
                }
            }
            case REBOOT -> {
                Guest old = guest();
                old.shutdown(ShutdownReason.REBOOT);
                retire(old);
                adopt(host.boot(uuid));
                writeNext();
            }
            case SAVE_RESTORE -> {
                Guest old = guest();
                old.suspend();
                retire(old);
                adopt(host.boot(uuid, true));
                writeNext();
            }
            case MIGRATE -> {
                Guest source = guest();
                Guest destination = host.create(uuid, true);
                adopt(destination);
                CompletableFuture<Void> unpaused = CompletableFuture.runAsync(() -> {
                    try {
                        destination.unpause();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, workers);
                source.suspend();
                retire(source);
                unpaused.get(OP_WAIT.toSeconds(), TimeUnit.SECONDS);
                writeNext();
            }
            case MANUFACTURE -> {
                String fresh = UUID.randomUUID().toString();
                Guest g = host.create(fresh, false);
                synchronized (strays) {
                    strays.add(g);
                }
                g.unpause();
                synchronized (manufactured) {
                    manufactured.add(fresh); // its guest saw a connected TPM: it must never be lost
                }
                g.destroy();
                synchronized (strays) {
                    strays.remove(g);
                }
            }
            case IMPORT -> importOne();
            default -> throw new IllegalStateException(op.toString());
        }
    }

    /**
     * {@code vtpmback import} of a new vTPM (a bundle of a real permanent state under a fresh uuid),
     * as an operator runs it beside the daemon, under the same power-cut model.
     */
    private void importOne() throws Exception {
        String fresh = UUID.randomUUID().toString();
        Path bundle = work.resolve("import/" + fresh + ".bundle");
        InstanceRecord record = new InstanceRecord(Uuid.parse(fresh), org.vtpmback.backend.engine.TpmFamily.TPM2,
                java.time.Instant.now(), 1, InstanceRecord.EndKind.SHUTDOWN, importState, Optional.empty());
        Files.write(bundle, InstanceBundle.export(record, "state faults".toCharArray()));
        synchronized (imported) {
            importsCut.add(fresh); // until it says it is done
        }
        Path log = work.resolve("logs/import.log");
        Process p = CutDaemon.startCommand(state, run, log, fs.environment(), jvmOptions,
                List.of("import", "--passphrase-file", work.resolve("import/passphrase").toString(), bundle.toString()));
        importing = p;
        if (!p.waitFor(OP_WAIT.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("vtpmback import did not end in " + OP_WAIT + "; log " + log);
        }
        importing = null;
        int rc = p.exitValue();
        importCut = rc == 137;
        Files.deleteIfExists(bundle);
        if (rc == 0) {
            synchronized (imported) {
                importsCut.remove(fresh);
                imported.add(fresh);
            }
        } else if (rc != 137) {
            throw new IllegalStateException("vtpmback import exited " + rc + ": " + Files.readString(log));
        }
    }

    private void writeNext() throws IOException {
        long next = acked + 1;
        inFlight = true;
        byte[] response = guest().frontend().transmit(TpmCommands.nvWrite(COUNTER_INDEX, counterBytes(next)), COMMAND_WAIT);
        if (TpmCommands.rc(response) == 0) {
            acked = next;
            inFlight = false;
        }
    }

    /** The guest's current domain; a cut between its reboot's teardown and boot leaves none. */
    private Guest guest() throws IOException {
        synchronized (domains) {
            if (domains.isEmpty()) {
                throw new IOException("the guest has no domain (cut between teardown and boot)");
            }
            return domains.get(domains.size() - 1);
        }
    }

    /** A domain the operation destroyed itself. */
    private void retire(Guest g) {
        synchronized (domains) {
            domains.remove(g);
        }
    }

    private void adopt(Guest g) {
        synchronized (domains) {
            domains.add(g);
        }
    }

    /** After the restart: the guest's instance loads and holds what was acknowledged; so do the manufactured ones. */
    private void check(int point, Op op, Cut cut, Path lastLog) throws Exception {
        String where = "point " + point + " (" + op + ", " + cut + ")";
        Optional<Long> value = usableGuest();
        if (value.isEmpty()) {
            unloadable++;
            failures.add(where + ": the guest's vTPM did not load; logs " + lastLog + " and the current one");
            return;
        }
        long v = value.get();
        if (v < acked) {
            lost++;
            failures.add(where + ": NV counter " + v + " < last acknowledged " + acked);
            keepLog(lastLog, point);
        } else if (v > acked + 1 || (v == acked + 1 && !inFlight)) {
            phantom++;
            failures.add(where + ": NV counter " + v + ", last acknowledged " + acked + ", in flight " + inFlight);
        }
        acked = v;
        inFlight = false;
        synchronized (strays) {
            for (Guest g : strays) {
                try {
                    g.destroy();
                } catch (Exception e) {
                    // half created when the cut came
                }
            }
            strays.clear();
        }
        checkManufactured(where);
        checkImported(where);
    }

    /** Every import that exited 0 loads; a cut one is absent or loads, never half there. */
    private void checkImported(String where) throws IOException {
        List<String> done;
        List<String> cutShort;
        synchronized (imported) {
            done = List.copyOf(imported);
            cutShort = List.copyOf(importsCut);
            importsCut.clear();
        }
        if (done.isEmpty() && cutShort.isEmpty()) {
            return;
        }
        Optional<InstanceStore> opened = openStore(where, done.size() + cutShort.size());
        if (opened.isEmpty()) {
            return;
        }
        InstanceStore store = opened.get();
        mustLoad(store, done, where, "imported vTPM (import exited 0)");
        for (String u : cutShort) {
            try {
                store.load(Uuid.parse(u));
            } catch (Exception e) {
                unloadable++;
                failures.add(where + ": vTPM " + u + " whose import was cut: " + e.getMessage());
            }
        }
    }

    /**
     * The counter as the guest reads it after the restart: from its domain if that is still connected,
     * else from a fresh domain of the same uuid (the cut left the old one half rebooted or half migrated).
     */
    private Optional<Long> usableGuest() throws Exception {
        Guest g;
        synchronized (domains) {
            g = domains.isEmpty() ? null : domains.get(domains.size() - 1);
        }
        Optional<Long> v = g != null && g.frontend().isConnected() ? readCounter(g) : Optional.empty();
        if (v.isPresent()) {
            destroyAllBut(g);
            sweepStrays(g);
            return v;
        }
        destroyAllBut(null);
        sweepStrays(null);
        try {
            g = bootPatiently(uuid);
        } catch (Exception e) {
            failures.add("boot of " + uuid + " after the restart failed: " + e.getMessage());
            return Optional.empty();
        }
        adopt(g);
        return readCounter(g);
    }

    /**
     * A new domain of {@code uuid}, booted: like {@link SimulatedVtpmHost#boot}, but a connect that
     * takes longer than its 30 s (a manufacture on a machine shared by many builds) is waited for.
     */
    private Guest bootPatiently(String u) throws Exception {
        Guest g = host.create(u, false);
        try {
            g.unpause();
        } catch (Guest.DeviceFailed e) {
            g.destroy();
            throw e;
        } catch (IllegalStateException e) {
            if (!g.frontend().awaitConnected(PATIENCE)) {
                g.destroy(); // else it would hold the vTPM's lease against every later boot
                throw e;
            }
        }
        return g;
    }

    /**
     * Destroys every domain with a vtpm device but {@code keep}'s: those a cut left half booted or half
     * migrated, which would hold the vTPM's lease against the next boot and add swtpm processes.
     */
    private void sweepStrays(Guest keep) {
        for (String d : host.xenstore().list(org.vtpmback.xenstore.XsPath.of("/local/domain/0/backend/vtpm"))) {
            int domid = Integer.parseInt(d);
            if (keep == null || domid != keep.domid()) {
                try {
                    host.toolstack().destroyDomain(domid, 0);
                } catch (Exception e) {
                    // removed anyway
                }
            }
        }
    }

    private void destroyAllBut(Guest keep) {
        synchronized (domains) {
            for (Guest d : domains) {
                if (d != keep) {
                    try {
                        d.destroy();
                    } catch (Exception e) {
                        // gone already, or its backend never answered: libxl removes it anyway
                    }
                }
            }
            domains.clear();
            if (keep != null) {
                domains.add(keep);
            }
        }
    }

    private Optional<Long> readCounter(Guest g) {
        try {
            byte[] r = g.frontend().transmit(nvRead(COUNTER_INDEX, 8), COMMAND_WAIT);
            if (TpmCommands.rc(r) != 0) {
                failures.add("NV_Read rc 0x" + Integer.toHexString(TpmCommands.rc(r)));
                return Optional.empty();
            }
            return Optional.of(ByteBuffer.wrap(r, 16, 8).getLong());
        } catch (IOException e) {
            failures.add("NV_Read failed: " + e);
            return Optional.empty();
        }
    }

    private void checkManufactured(String where) throws IOException {
        List<String> uuids;
        synchronized (manufactured) {
            uuids = List.copyOf(manufactured);
        }
        if (uuids.isEmpty()) {
            return;
        }
        openStore(where, uuids.size()).ifPresent(store -> mustLoad(store, uuids, where, "manufactured vTPM"));
    }

    /** The store as the next daemon opens it; empty (each expected record counted unloadable) if the master key is gone. */
    private Optional<InstanceStore> openStore(String where, int expected) throws IOException {
        Path key = state.resolve("master.key");
        if (!Files.exists(key)) {
            unloadable += expected;
            failures.add(where + ": the master key is gone");
            return Optional.empty();
        }
        return Optional.of(InstanceStore.shared(state.resolve("instances"), MasterKey.load(key)));
    }

    /** Each of {@code uuids} is in {@code store} and opens: else lost (absent) or unloadable (does not open). */
    private void mustLoad(InstanceStore store, List<String> uuids, String where, String what) {
        for (String u : uuids) {
            try {
                if (store.load(Uuid.parse(u)).isEmpty()) {
                    lost++;
                    failures.add(where + ": " + what + " " + u + " is not in the store");
                }
            } catch (Exception e) {
                unloadable++;
                failures.add(where + ": " + what + " " + u + ": " + e.getMessage());
            }
        }
    }

    /**
     * What a hung operation was waiting for: its thread's stack, the xenbus states of the uuid's domains, and
     * the tails of the cut daemon's log and the restarted one's.
     */
    private String describeHang(String where, Path lastLog) throws IOException {
        StringBuilder b = new StringBuilder(where).append(": the operation hung; its thread:\n");
        Thread t = opThread;
        if (t != null) {
            for (StackTraceElement e : t.getStackTrace()) {
                b.append("    at ").append(e).append('\n');
            }
        }
        synchronized (domains) {
            for (Guest d : domains) {
                b.append("  domain ").append(d.domid()).append(": frontend ").append(d.frontend().state()).append(", backend ")
                        .append(host.toolstack().backendState(d.domid(), 0)).append('\n');
            }
        }
        for (String d : host.xenstore().list(org.vtpmback.xenstore.XsPath.of("/local/domain/0/backend/vtpm"))) {
            b.append("  backend/vtpm/").append(d).append(": ").append(host.toolstack().backendState(Integer.parseInt(d), 0))
                    .append('\n');
        }
        Path current = currentLog();
        for (Path log : List.of(lastLog, current)) {
            b.append("  last lines of ").append(log).append(":\n");
            if (Files.exists(log)) {
                List<String> lines = Files.readAllLines(log);
                lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(l -> b.append("    ").append(l).append('\n'));
            }
        }
        return b.toString();
    }

    /**
     * Copies the cut daemon's log and the restarted one's out of the work folder (a hang is no failure, so the
     * {@code @TempDir} goes at the end) into {@code target/faults-state} of the module.
     */
    private String keepHangLogs(int point, Path lastLog) throws IOException {
        Path kept = Files.createDirectories(Path.of("target/faults-state").toAbsolutePath());
        Path cutCopy = kept.resolve("hung-" + mode.name().toLowerCase() + "-" + seed + "-point-" + point + "-cut.log");
        Path restartCopy = kept.resolve("hung-" + mode.name().toLowerCase() + "-" + seed + "-point-" + point + "-restart.log");
        if (Files.exists(lastLog)) {
            Files.copy(lastLog, cutCopy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Path current = currentLog();
        if (Files.exists(current)) {
            Files.copy(current, restartCopy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return cutCopy + ", " + restartCopy;
    }

    /** The log of the daemon running now (the one started after the last cut). */
    private Path currentLog() {
        return work.resolve("logs/daemon-" + life + ".log");
    }

    private void keepLog(Path log, int point) throws IOException {
        if (Files.exists(log)) {
            Files.copy(log, work.resolve("logs/failed-point-" + point + ".log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * One life of the daemon that ends normally, so its JVM writes a class data archive: every later
     * life maps it instead of loading and verifying the same classes again (seconds on a busy machine).
     */
    private void warmUp() throws IOException, InterruptedException {
        Path archive = work.resolve("daemon.jsa");
        fs.newProcess();
        CutDaemon.start(xenstored, work.resolve("sim"), state, run, work.resolve("logs/warm-up.log"), fs.environment(),
                List.of("-XX:ArchiveClassesAtExit=" + archive)).stop();
        if (Files.exists(archive)) {
            jvmOptions = List.of("-XX:SharedArchiveFile=" + archive);
        }
        System.out.println("FAULTS state " + mode.name().toLowerCase() + ": daemon class data archive "
                + (Files.exists(archive) ? archive : "not written (see " + work.resolve("logs/warm-up.log") + ")"));
    }

    /** Adds the last daemon life's syncs (the shim's event list, "<n> <op> <path>") to {@link #syncs}. */
    private void countSyncs() throws IOException {
        for (String e : fs.events()) {
            String[] f = e.split(" ", 3);
            if (f.length == 3 && (f[1].equals("fsync") || f[1].equals("fdatasync"))) {
                syncs.merge(f[2].matches(".*/commit-[01]\\.log") ? "log-" + f[1] : f[1], 1, Integer::sum);
            }
        }
    }

    private void startDaemon() throws IOException, InterruptedException {
        countSyncs();
        fs.newProcess();
        life++;
        Path log = currentLog();
        Files.deleteIfExists(work.resolve("logs/daemon-" + (life - 2) + ".log")); // keep the last two lives
        daemon = CutDaemon.start(xenstored, work.resolve("sim"), state, run, log, fs.environment(), jvmOptions);
    }

    /** Power gone: every swtpm of this harness dies with the daemon (found by its folder on the command line). */
    private void killSwtpms() throws IOException {
        String marker = run.toString();
        List<ProcessHandle> swtpms = new ArrayList<>();
        try (var procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                try {
                    // swtpm itself, or a step of the jail that execs it (unshare, sh, setpriv, env)
                    if (!Files.readString(proc.resolve("comm")).strip().equals("java")
                            && new String(Files.readAllBytes(proc.resolve("cmdline"))).contains(marker)) {
                        ProcessHandle.of(Long.parseLong(proc.getFileName().toString())).ifPresent(swtpms::add);
                    }
                } catch (IOException e) {
                    // exited meanwhile
                }
            }
        }
        swtpms.forEach(ProcessHandle::destroyForcibly);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (ProcessHandle p : swtpms) {
            // polled: onExit of a process that is not our child waits in coarse steps
            while (running(p.pid()) && System.nanoTime() < deadline) {
                LockSupport.parkNanos(2_000_000);
            }
        }
    }

    /** Whether a process exists and is not a zombie. */
    private static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    private static void expectOk(byte[] response, String what) {
        if (TpmCommands.rc(response) != 0) {
            throw new IllegalStateException(what + ": TPM rc 0x" + Integer.toHexString(TpmCommands.rc(response)));
        }
    }

    private static byte[] counterBytes(long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }

    /** TPM2_NV_Read(owner, index, size, offset 0) with the owner's empty password. */
    static byte[] nvRead(int index, int size) {
        return ByteBuffer.allocate(35).putShort((short) 0x8002).putInt(35).putInt(0x14e).putInt(0x40000001).putInt(index)
                .putInt(9).putInt(0x40000009).putShort((short) 0).put((byte) 0).putShort((short) 0)
                .putShort((short) size).putShort((short) 0).array();
    }

    @Override
    public void close() throws Exception {
        workers.shutdownNow();
        if (daemon != null) {
            daemon.kill();
        }
        destroyAllBut(null);
        host.close();
        killSwtpms();
    }
}
