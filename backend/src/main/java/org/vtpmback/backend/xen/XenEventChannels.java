package org.vtpmback.backend.xen;

import java.time.Duration;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.vtpmback.service.Heartbeat;
import org.vtpmback.xen.EventChannelDevice;

/**
 * {@link EventChannels} on real Xen: one {@code /dev/xen/evtchn} handle (libxenevtchn) multiplexing
 * every bound port, and one reader thread that polls it. Per xenevtchn.h a delivered port stays
 * masked until unmasked, so the handler runs first and the port is unmasked after it (QEMU's
 * xen_device_event does the same), and the fd is polled before {@code pending()}. An {@link Error} on the
 * reader goes to the thread's uncaught-exception handler at once: the daemon's ends the process.
 */
public final class XenEventChannels implements EventChannels {
    public static final String THREAD_NAME = "vtpm-evtchn";
    private static final System.Logger LOG = System.getLogger(XenEventChannels.class.getName());
    /** How often the reader re-checks its stop flag while no event arrives. */
    private static final Duration POLL_INTERVAL = Duration.ofMillis(200);

    private final EventChannelDevice device;
    private final Map<Integer, Port> ports = new ConcurrentHashMap<>();
    private final Thread reader;
    private final Heartbeat heartbeat;
    private final AtomicBoolean closed = new AtomicBoolean();

    XenEventChannels(EventChannelDevice device) {
        this.device = device;
        this.reader = new Thread(this::readEvents, THREAD_NAME);
        reader.setDaemon(true);
        this.heartbeat = new Heartbeat(reader);
        reader.start();
    }

    /** Opens the event-channel device; throws a clear error where Xen (or evtchn) is missing. */
    public static XenEventChannels open() {
        return new XenEventChannels(EventChannelDevice.open());
    }

    @Override
    public BoundPort bind(int remoteDomid, int remotePort, Consumer<BoundPort> onEvent) {
        if (closed.get()) {
            throw new IllegalStateException("event channels are closed");
        }
        // Xen marks a port pending as soon as an interdomain bind completes (evtchn_bind_interdomain),
        // so the reader may see the new port before we know it: binding and registering under the lock
        // the reader takes for its lookup closes that gap.
        synchronized (ports) {
            int local = device.bindInterdomain(remoteDomid, remotePort);
            Port port = new Port(local, remoteDomid, remotePort, onEvent);
            ports.put(local, port);
            return port;
        }
    }

    @Override
    public Heartbeat reader() {
        return heartbeat;
    }

    private void readEvents() {
        while (!closed.get()) {
            heartbeat.beat();
            try {
                if (device.awaitEvent(POLL_INTERVAL)) {
                    OptionalInt pending = device.pending();
                    if (pending.isPresent()) {
                        deliver(pending.getAsInt());
                    }
                }
            } catch (RuntimeException e) {
                if (!closed.get()) {
                    LOG.log(System.Logger.Level.ERROR, "event-channel reader failed; continuing", e);
                }
            } catch (Error e) {
                // Without this reader no guest is ever served again: the process must end, not this thread alone.
                Thread self = Thread.currentThread();
                self.getUncaughtExceptionHandler().uncaughtException(self, e); // the daemon's halts (exit 70)
                return;
            }
        }
    }

    private void deliver(int localPort) {
        Port port;
        synchronized (ports) {
            port = ports.get(localPort);
        }
        if (port == null) {
            // Unbound meanwhile, or not ours yet: unmask anyway, a port left masked never fires again.
            unmaskQuietly(localPort);
            return;
        }
        try {
            port.onEvent.accept(port);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "handler of " + port + " failed", e);
        }
        if (ports.containsKey(localPort)) {
            device.unmask(localPort);
        }
    }

    private void unmaskQuietly(int localPort) {
        try {
            device.unmask(localPort);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "unmask of unknown port {0}: {1}", localPort, e.getMessage());
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                reader.join(POLL_INTERVAL.multipliedBy(10).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ports.values().forEach(Port::close);
            device.close();
        }
    }

    private final class Port implements BoundPort {
        private final int local;
        private final int remoteDomid;
        private final int remotePort;
        private final Consumer<BoundPort> onEvent;
        private final AtomicBoolean open = new AtomicBoolean(true);

        Port(int local, int remoteDomid, int remotePort, Consumer<BoundPort> onEvent) {
            this.local = local;
            this.remoteDomid = remoteDomid;
            this.remotePort = remotePort;
            this.onEvent = onEvent;
        }

        @Override
        public int localPort() {
            return local;
        }

        @Override
        public void notifyRemote() {
            if (!open.get()) {
                throw new IllegalStateException(this + " is unbound");
            }
            device.notify(local);
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                ports.remove(local);
                device.unbind(local); // the guest's port reverts to unbound: a restarted daemon can bind it
            }
        }

        @Override
        public String toString() {
            return "port " + local + " (domain " + remoteDomid + " port " + remotePort + ")";
        }
    }
}
