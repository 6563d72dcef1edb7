package org.vtpmback.backend.device;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;

/**
 * The backend daemon: watches {@code /local/domain/<own>/backend/vtpm} (first, then scans what is
 * already there, so nothing created in between is missed; later events look only at the domain they
 * name, {@link BackendEvents}) and runs one {@link VtpmDevice} per {@code <domid>/<devid>}. Devices
 * borrow threads from one pool only while they have work, so an idle guest costs no thread.
 */
public final class VtpmDaemon implements AutoCloseable, DaemonWatchdog.Liveness {
    private static final System.Logger LOG = System.getLogger(VtpmDaemon.class.getName());
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration POOL_DRAIN = Duration.ofSeconds(5);

    private final XenStore store;
    private final int backendDomid;
    private final DeviceResources resources;
    private final XsPath base;
    private final ExecutorService pool;
    private final SerialExecutor control;
    /** Answers the TPM commands the devices start (their data paths' second thread, shared by all). */
    private final org.vtpmback.backend.engine.ReplyLoop replies = org.vtpmback.backend.engine.ReplyLoop.start();
    private final Map<DeviceId, VtpmDevice> devices = new ConcurrentHashMap<>();
    /** Watch events for paths of no known device: a look at the domain they name, or at everything. */
    private final BackendEvents events;
    /** Each device's first step (see {@link VtpmDevice#start}), for {@link #start()}'s readiness. */
    private final Map<DeviceId, CompletableFuture<Void>> firstSteps = new ConcurrentHashMap<>();
    private volatile Runnable devicesChanged = () -> { };
    /** Set by {@link #close()}: a look still queued then does nothing (its xenstore connection is closing). */
    private volatile boolean closing;
    private Watch watch;

    public VtpmDaemon(XenStore store, int backendDomid, DeviceResources resources) {
        this.store = store;
        this.backendDomid = backendDomid;
        this.resources = resources;
        this.base = XsPath.of("/local/domain/" + backendDomid).child("backend").child("vtpm");
        AtomicInteger n = new AtomicInteger();
        // Threads exist only while devices have work; at most one per busy device (serial executors).
        ThreadPoolExecutor p = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(),
                r -> {
                    Thread t = new Thread(r, "vtpm-worker-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.pool = p;
        this.control = new SerialExecutor(pool, "vtpm-daemon");
        this.events = new BackendEvents(base, control, devices::containsKey, this::scan, this::scanDomain);
    }

    /**
     * Starts watching; devices that already exist are picked up (re-attached if Connected). The future
     * completes once the first scan after the watch was armed is done and each device it found has taken
     * its first step (InitWait, re-attached, or failed): what a service manager may call "ready". It
     * completes exceptionally if that scan fails. The instances' background work (a pool of ready-made TPMs)
     * starts first, so that the first device can use what it finds.
     */
    public CompletableFuture<Void> start() {
        resources.instances().startBackgroundWork();
        LOG.log(System.Logger.Level.INFO, "watching {0} (backend domain {1})", base, backendDomid);
        watch = store.watch(base, events::changed);
        CompletableFuture<Void> started = new CompletableFuture<>();
        control.execute(() -> {
            try {
                scan(); // also counts devices an earlier, watch-triggered scan added: theirs are in firstSteps
                CompletableFuture.allOf(firstSteps.values().toArray(CompletableFuture[]::new))
                        .whenComplete((done, failed) -> started.complete(null));
            } catch (RuntimeException e) {
                started.completeExceptionally(e);
                throw e;
            }
        });
        return started;
    }

    /** {@code listener} runs whenever a device is added or removed (on the thread that did it). */
    public void onDevicesChanged(Runnable listener) {
        this.devicesChanged = listener;
    }

    /**
     * The threads without which nothing is served: the xenstore watch reader, the event-channel reader and
     * the loop that answers started TPM commands.
     */
    @Override
    public List<Heartbeat> readers() {
        return List.of(store.watchReader(), resources.eventChannels().reader(), replies.heartbeat());
    }

    /** Completes once a task queued now on the daemon's own executor (on the worker pool) has run. */
    @Override
    public CompletableFuture<Void> probe() {
        return CompletableFuture.runAsync(() -> { }, control);
    }

    /** Lists every backend and adds the new ones: at the start, and for events that name no domain. */
    private void scan() {
        if (closing) {
            return;
        }
        for (String domid : store.list(base)) {
            scanDomain(domid);
        }
    }

    /** Lists one domain's backends and adds the new ones: for watch events below {@code <domid>}. */
    private void scanDomain(org.vtpmback.xen.DomainId domain) {
        if (!closing) {
            scanDomain(domain.toString());
        }
    }

    private void scanDomain(String domid) {
        for (String devid : store.list(base.child(domid))) {
            Optional<DeviceId> id = DeviceId.parse(domid, devid);
            if (id.isEmpty()) {
                LOG.log(System.Logger.Level.WARNING, "ignoring {0}/{1}/{2}: not a guest vtpm device", base, domid, devid);
            } else if (!devices.containsKey(id.get())) {
                addDevice(id.get());
            }
        }
    }

    private void addDevice(DeviceId id) {
        VtpmDevice device = new VtpmDevice(id, store, backendDomid, resources, pool, replies, () -> {
            devices.remove(id);
            firstSteps.remove(id);
            devicesChanged.run();
            LOG.log(System.Logger.Level.INFO, "{0}: device gone", id);
            // Watch events for this path were ignored while the device existed: a device re-created at
            // the same path meanwhile (detach, then attach) is found only by looking again.
            events.domain(id.domain());
        });
        devices.put(id, device);
        firstSteps.put(id, device.start(store));
        devicesChanged.run();
    }

    /**
     * For tests: the most tasks that ever waited at once on the device {@code id} (O(1) whatever its
     * guest does), or empty if the daemon does not handle that device.
     */
    public java.util.OptionalInt maxPendingWork(DeviceId id) {
        VtpmDevice device = devices.get(id);
        return device == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(device.maxPendingWork());
    }

    /** What each device handled now is doing ({@code vtpmback status}), ordered by domain and devid. */
    public List<DeviceStatus> status() {
        return devices.values().stream()
                .sorted(java.util.Comparator.comparingInt((VtpmDevice d) -> d.id().frontendDomid()).thenComparingInt(d -> d.id().devid()))
                .map(d -> d.status(domainName(d.id().frontendDomid())))
                .toList();
    }

    private Optional<String> domainName(int domid) {
        try {
            return store.read(XsPath.of("/local/domain/" + domid + "/name"));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The devices currently handled, for status output and tests. */
    public java.util.Set<DeviceId> devices() {
        return java.util.Set.copyOf(devices.keySet());
    }

    /**
     * Stops without disturbing the guests: no state is written, so a restarted daemon re-attaches and
     * the frontends never see Closing (Linux would drop the TPM). The instances' background work stops first
     * (a pool entry being made is dropped): the guests' detach gets the CPU. Idempotent.
     */
    @Override
    public void close() {
        resources.instances().stopBackgroundWork();
        if (watch == null) {
            replies.close(); // never started, or closed already
            return;
        }
        closing = true;
        watch.close();
        watch = null;
        CountDownLatch detached = new CountDownLatch(devices.size());
        devices.values().forEach(d -> d.detach(detached::countDown));
        try {
            if (!detached.await(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                LOG.log(System.Logger.Level.ERROR, "{0} devices did not detach within {1}", detached.getCount(), STOP_TIMEOUT);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        devices.clear();
        firstSteps.clear();
        replies.close(); // after the devices: each detached (its turn, so no command in flight) or timed out above
        pool.shutdown();
        try {
            // The caller closes the xenstore connection next: let a scan that is running finish first.
            // A worker stuck in a command of a hung swtpm is not waited for longer (that device detached anyway).
            if (!pool.awaitTermination(POOL_DRAIN.toSeconds(), TimeUnit.SECONDS)) {
                LOG.log(System.Logger.Level.WARNING, "worker threads still busy {0} after the devices detached", POOL_DRAIN);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        resources.instances().closeStore(); // the devices are detached: no checkpoint comes any more
        LOG.log(System.Logger.Level.INFO, "stopped");
    }
}
