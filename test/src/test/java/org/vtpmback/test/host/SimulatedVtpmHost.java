package org.vtpmback.test.host;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.vtpmback.backend.device.DeviceResources;
import org.vtpmback.backend.device.VtpmDaemon;
import org.vtpmback.backend.engine.EngineFactory;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmJail;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.ManufacturePool;
import org.vtpmback.backend.instance.Manufacturer;
import org.vtpmback.backend.instance.PersistentInstances;
import org.vtpmback.backend.manufacture.StandardManufacturer;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.xen.sim.SimulatedDomainStatus;
import org.vtpmback.backend.xen.sim.SimulatedEventChannels;
import org.vtpmback.backend.xen.sim.SimulatedGrantMapper;
import org.vtpmback.backend.xen.sim.SimulationDirectory;
import org.vtpmback.hotplug.toolstack.ResumeSignal;
import org.vtpmback.test.emulator.ToolstackEmulator;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * A dom0 without Xen for end-to-end tests: the real vtpmback daemon (real xenstored, real swtpm,
 * the encrypted store) on the simulated grants and event channels, plus an emulated libxl toolstack
 * and Linux frontends. The daemon has its own xenstore connection, as it would in dom0.
 */
public final class SimulatedVtpmHost implements AutoCloseable {
    public static final int BACKEND_DOMID = 0;
    /** Bound on one command's answer and on a close; a connect follows the daemon's progress instead ({@link ProgressWait}). */
    public static final Duration WAIT = Duration.ofSeconds(30);
    private static final int PARALLEL_BOOTS = 4;
    private static final AtomicInteger NEXT_DOMID = new AtomicInteger(100);

    private final Path xenstoredSocket;
    private final Path work;
    private final SimulationDirectory sim;
    private final SimulatedDomainStatus domains;
    private final XenStore tools;
    private final ToolstackEmulator toolstack;
    private final Map<String, TpmFamily> families = new ConcurrentHashMap<>();
    private final List<Guest> guests = new ArrayList<>();
    private Manufacturer manufacturer;
    /** The pool of ready-made TPMs the next {@link #startDaemon()} keeps (none by default). */
    private Map<TpmFamily, Integer> poolSizes = Map.of();
    /** Fault injection only: wraps every engine the next {@link #startDaemon()} creates. */
    private UnaryOperator<TpmEngine> engineFaults = UnaryOperator.identity();
    /** Fault injection only: wraps each commit-log channel of the next {@link #startDaemon()}'s store. */
    private UnaryOperator<FileChannel> logFaults = UnaryOperator.identity();
    /** Counting only: wraps the xenstore connection of the next {@link #startDaemon()}. */
    private UnaryOperator<XenStore> daemonXenstore = UnaryOperator.identity();
    private XenStore daemonStore;
    private VtpmDaemon daemon;
    private PersistentInstances instances;
    private InstanceStore store;

    public SimulatedVtpmHost(XenstoredDaemon xenstored, Path work) throws IOException {
        this(xenstored.socket(), work, work.resolve("sim"));
    }

    /**
     * A host on the xenstored at {@code xenstoredSocket} whose simulated Xen lives in {@code simDir};
     * without {@link #startDaemon()} it drives a vtpmback daemon running elsewhere (host=simulated with
     * the same simulation-dir), as {@code scripts/demo.sh} does.
     */
    public SimulatedVtpmHost(Path xenstoredSocket, Path work, Path simDir) throws IOException {
        this.xenstoredSocket = xenstoredSocket;
        this.work = work;
        this.sim = new SimulationDirectory(Files.createDirectories(simDir));
        this.domains = new SimulatedDomainStatus(sim);
        this.tools = LibXenStore.connect(xenstoredSocket);
        this.toolstack = new ToolstackEmulator(tools, BACKEND_DOMID);
        this.manufacturer = new StandardManufacturer(work.resolve("state/ca"));
    }

    /** The family a new vTPM of {@code uuid} gets (default TPM 2.0), like {@code tpm-family.<uuid>}. */
    public SimulatedVtpmHost family(String uuid, TpmFamily family) {
        families.put(uuid, family);
        return this;
    }

    /**
     * Ready-made TPMs the next {@link #startDaemon()} keeps per family, as {@code manufacture-pool} (in
     * {@code state/pool}); none by default, so that other tests see no background key generation.
     */
    public SimulatedVtpmHost pool(Map<TpmFamily, Integer> sizes) {
        this.poolSizes = Map.copyOf(sizes);
        return this;
    }

    public SimulatedVtpmHost manufacturer(Manufacturer m) {
        this.manufacturer = m;
        return this;
    }

    /**
     * Fault injection for the next {@link #startDaemon()}: every engine the daemon creates (also on a
     * restart after swtpm died) is passed through {@code wrap}, e.g. a Mockito spy that kills swtpm at
     * a chosen point.
     */
    public SimulatedVtpmHost engineFaults(UnaryOperator<TpmEngine> wrap) {
        this.engineFaults = wrap;
        return this;
    }

    /**
     * Fault injection for the next {@link #startDaemon()}: each commit-log file its store opens is passed through
     * {@code wrap} (a JDK channel, not our code: e.g. a Mockito spy whose {@code force} fails as a failing disk's would).
     */
    public SimulatedVtpmHost logFaults(UnaryOperator<FileChannel> wrap) {
        this.logFaults = wrap;
        return this;
    }

    /**
     * For counting what the daemon asks xenstored (e.g. {@link CountingXenStore}): the next {@link #startDaemon()}'s
     * own connection is passed through {@code wrap}.
     */
    public SimulatedVtpmHost daemonXenstore(UnaryOperator<XenStore> wrap) {
        this.daemonXenstore = wrap;
        return this;
    }

    /** The default jail on this test JVM's own uid range ({@link DaemonProcess#testUidBase()}). */
    public static SwtpmJail testJail(Path work) {
        SwtpmJail d = SwtpmJail.defaults(List.of(work.resolve("state"), work.resolve("run")));
        return new SwtpmJail(DaemonProcess.testUidBase(), d.uidCount(), d.hidden(), d.maxFileSize(), d.maxAddressSpace(),
                d.maxOpenFiles());
    }

    /** Starts the daemon (again); it picks up devices that already exist, re-attaching Connected ones. */
    public SimulatedVtpmHost startDaemon() throws IOException {
        MasterKey key = MasterKey.loadOrCreate(work.resolve("state/master.key"), work.resolve("state/instances"));
        store = new InstanceStore(work.resolve("state/instances"), key, logFaults);
        SwtpmConfig swtpm = SwtpmConfig.defaults(Files.createDirectories(work.resolve("run")));
        // as vtpmback daemon does by default (swtpm-jail = yes), where the jail can be had
        SwtpmLauncher launcher = new SwtpmLauncher(DaemonProcess.isRoot() ? swtpm.withJail(testJail(work)) : swtpm);
        EngineFactory engines = new FaultyEngines(launcher, engineFaults);
        Optional<ManufacturePool.Settings> pool = poolSizes.isEmpty() ? Optional.empty()
                : Optional.of(new ManufacturePool.Settings(new InstanceStore(work.resolve("state/pool"), key), poolSizes));
        instances = new PersistentInstances(store, engines, work.resolve("run/instances"),
                uuid -> families.getOrDefault(uuid.value(), TpmFamily.TPM2), manufacturer, domains, Duration.ofSeconds(30), pool);
        instances.recoverAfterCrash(); // as vtpmback daemon does at start
        daemonStore = daemonXenstore.apply(LibXenStore.connect(xenstoredSocket));
        daemon = new VtpmDaemon(daemonStore, BACKEND_DOMID, new DeviceResources(new SimulatedGrantMapper(sim),
                new SimulatedEventChannels(sim, BACKEND_DOMID), instances));
        daemon.start();
        return this;
    }

    /**
     * Stops the daemon the way SIGTERM does: guests stay connected in xenstore, and their swtpm
     * processes keep running for the next daemon to take over.
     */
    public void stopDaemon() {
        if (daemon != null) {
            daemon.close();
            daemonStore.close();
            daemon = null;
        }
    }

    /** A new domain with one vtpm device of {@code uuid}, booted: the frontend connected. */
    public Guest boot(String uuid) throws Exception {
        return boot(uuid, false);
    }

    /**
     * {@code count} new domains, each with a vTPM of a new uuid (so each is manufactured), booted a few
     * at once like a host starting its guests; in the order they were asked for.
     */
    public List<Guest> bootMany(int count) throws Exception {
        ExecutorService boots = Executors.newFixedThreadPool(PARALLEL_BOOTS);
        try {
            List<Future<Guest>> booting = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                booting.add(boots.submit(() -> boot(UUID.randomUUID().toString())));
            }
            List<Guest> booted = new ArrayList<>();
            for (Future<Guest> f : booting) {
                // Unbounded here: each boot's connect is bounded by ProgressWait, and manufactures run one at
                // a time, so a fixed bound per guest (queueing included) expired on a loaded machine.
                booted.add(f.get());
            }
            return booted;
        } finally {
            boots.shutdownNow();
        }
    }

    /**
     * Creates a domain as libxl does (device added, backend must reach InitWait within 10 s), marks a
     * restore the documented way when {@code resume}, then probes the frontend like Linux.
     */
    public Guest boot(String uuid, boolean resume) throws Exception {
        Guest guest = create(uuid, resume);
        guest.unpause();
        return guest;
    }

    /**
     * {@code xl create -p} / {@code xl restore -p}: the domain exists with its vtpm device (backend in
     * InitWait), paused, so its frontend has not probed yet. With {@code resume} the restore is marked
     * the documented way, through {@link ResumeSignal} (the code {@code vtpmback restore} and
     * {@code vtpmback resume-domain} run). {@link Guest#unpause()} lets the guest run.
     */
    public Guest create(String uuid, boolean resume) throws Exception {
        return createTimed(uuid, resume).guest();
    }

    /**
     * A {@link #create}d guest and where its time went: the domain's own transaction ({@code domain}), then the
     * device add's commit and the backend's reaction to it (the boot storm tells the toolstack's part from the daemon's).
     */
    public record Created(Guest guest, Duration domain, ToolstackEmulator.DeviceAddTimes deviceAdd) {
    }

    /** {@link #create}, timed. */
    public Created createTimed(String uuid, boolean resume) throws Exception {
        return createTimed(uuid, resume, toolstack);
    }

    /**
     * {@link #createTimed} through {@code xl}'s own toolstack: each {@code xl create} is a process with a xenstore
     * connection of its own ({@link #connectToolstack()}), where this host's one connection would queue the
     * requests of every domain created at once behind each other (libxenstore sends one request at a time).
     */
    public Created createTimed(String uuid, boolean resume, ToolstackEmulator xl) throws Exception {
        int domid = NEXT_DOMID.getAndIncrement();
        domains.record(domid, Optional.empty());
        long t0 = System.nanoTime();
        xl.createDomain(domid);
        Duration domain = Duration.ofNanos(System.nanoTime() - t0);
        ToolstackEmulator.DeviceAddTimes deviceAdd = xl.addVtpmTimed(domid, 0, uuid);
        if (resume) {
            List<ResumeSignal.Marked> marked = ResumeSignal.mark(tools, BACKEND_DOMID, domid);
            if (marked.size() != 1) {
                throw new IllegalStateException("domain " + domid + ": ResumeSignal marked " + marked);
            }
        }
        Guest guest = new Guest(this, domid, uuid);
        synchronized (guests) {
            guests.add(guest);
        }
        return new Created(guest, domain, deviceAdd);
    }

    /** A new xenstore connection to this host's xenstored, as a toolstack process opens one (the caller closes it). */
    public XenStore connectToolstack() {
        return LibXenStore.connect(xenstoredSocket);
    }

    /**
     * The daemon's report that it gave up on device {@code devid} of {@code domid}: the backend's {@code error} node
     * (xenbus_dev_fatal's {@code error/backend/vtpm/<domid>/<devid>/error} under the backend domain's home, removed
     * by a later connect) while the backend is Closing or Closed. Empty while the device may still connect.
     */
    public Optional<String> deviceFailure(int domid, int devid) {
        boolean closing = toolstack.backendState(domid, devid).map(s -> s == XenbusState.CLOSING || s == XenbusState.CLOSED)
                .orElse(false);
        return closing ? tools.read(errorNode(domid, devid)) : Optional.empty();
    }

    /** Where the daemon reports a failed device, as xenbus_dev_fatal does: under the backend domain's home. */
    public static XsPath errorNode(int domid, int devid) {
        return XsPath.of("/local/domain/" + BACKEND_DOMID).child("error").child("backend").child("vtpm").child(domid).child(devid)
                .child("error");
    }

    public ToolstackEmulator toolstack() {
        return toolstack;
    }

    public XenStore xenstore() {
        return tools;
    }

    public SimulationDirectory simulation() {
        return sim;
    }

    public SimulatedDomainStatus domains() {
        return domains;
    }

    public PersistentInstances instances() {
        return instances;
    }

    /** The local store of the daemon last started here ({@link #startDaemon()}). */
    public InstanceStore store() {
        return store;
    }

    public VtpmDaemon daemon() {
        return daemon;
    }

    public Path work() {
        return work;
    }

    @Override
    public void close() throws Exception {
        synchronized (guests) {
            for (Guest g : guests) {
                g.closeQuietly();
            }
        }
        stopDaemon();
        LeftoverSwtpm.kill(work.resolve("run/instances")); // the stop left the guests' swtpm running
        tools.close();
    }
}
