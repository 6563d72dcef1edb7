package org.vtpmback.backend.xen.sim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.file.Files;
import java.util.Iterator;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.vtpmback.backend.xen.BoundPort;
import org.vtpmback.backend.xen.EventChannels;
import org.vtpmback.service.Heartbeat;

/**
 * Backend side of simulated event channels (wire protocol and rationale: {@link PortWire}). All
 * bound ports share one {@link Selector} and one daemon reader thread named {@value #THREAD_NAME},
 * which blocks in {@code select()} while nothing is pending.
 *
 * <p>An {@link Error} on the reader goes to its uncaught-exception handler (the daemon's ends the process);
 * tests make one with the fault file {@link SimulationDirectory#readerFault()}.
 *
 * <p>Ownership: the creator closes it; closing stops the thread and unbinds all ports.
 * Thread-safety: {@link #bind} and {@link #close} may be called from any thread.
 */
public final class SimulatedEventChannels implements EventChannels {
    /** Name of the reader thread. */
    public static final String THREAD_NAME = "vtpm-evtchn";
    private static final long JOIN_MILLIS = 5_000;
    /** How often an idle reader turns (and beats), like XenEventChannels' poll interval. */
    private static final long BEAT_MILLIS = 200;
    private static final long FAULT_CHECK_MILLIS = 100;
    private static final System.Logger LOG = System.getLogger(SimulatedEventChannels.class.getName());

    private final SimulationDirectory directory;
    private final int ownDomid;
    private final Selector selector;
    private final Thread reader;
    private final Heartbeat heartbeat;
    // Registration happens on the reader thread: register() from another thread would contend with
    // the blocked select(), and a key added behind its back would not be polled until the next wakeup.
    private final Queue<SimulatedBoundPort> toRegister = new ConcurrentLinkedQueue<>();
    private final Set<SimulatedBoundPort> ports = ConcurrentHashMap.newKeySet();
    private final AtomicInteger nextLocalPort = new AtomicInteger(1); // Xen never hands out port 0
    private final AtomicBoolean closed = new AtomicBoolean();
    /** When the reader next looks for the test-only fault file (System.nanoTime()). */
    private long nextFaultCheck = System.nanoTime();
    /** The reader's buffer for draining notifications (their bytes carry nothing), reused for every event. */
    private final java.nio.ByteBuffer scratch = java.nio.ByteBuffer.allocateDirect(64);

    /**
     * @param directory the simulation folder shared with the frontends
     * @param ownDomid the domain this backend plays (0 for dom0); frontends check it on bind
     */
    public SimulatedEventChannels(SimulationDirectory directory, int ownDomid) {
        this.directory = directory;
        this.ownDomid = ownDomid;
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for simulated event channels", e);
        }
        this.reader = new Thread(this::run, THREAD_NAME);
        reader.setDaemon(true);
        this.heartbeat = new Heartbeat(reader);
        reader.start();
    }

    @Override
    public BoundPort bind(int remoteDomid, int remotePort, Consumer<BoundPort> onEvent) {
        if (closed.get()) {
            throw new IllegalStateException("event channels are closed");
        }
        var channel = PortWire.bindAsBackend(directory, remoteDomid, remotePort, ownDomid);
        var port = new SimulatedBoundPort(this, nextLocalPort.getAndIncrement(), remoteDomid, remotePort,
                channel, onEvent);
        ports.add(port);
        toRegister.add(port);
        selector.wakeup();
        if (closed.get()) { // lost a race with close(): do not leave a port nobody will unbind
            port.close();
            throw new IllegalStateException("event channels are closed");
        }
        return port;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        selector.wakeup();
        if (Thread.currentThread() != reader) {
            try {
                reader.join(JOIN_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (SimulatedBoundPort port : ports) {
            port.close();
        }
        if (!reader.isAlive()) {
            PortWire.closeQuietly(selector);
        } // else the reader closes it on its way out
    }

    /** Called by a port on close: forget it and let the selector drop its key promptly. */
    void unbound(SimulatedBoundPort port) {
        ports.remove(port);
        selector.wakeup();
    }

    @Override
    public Heartbeat reader() {
        return heartbeat;
    }

    private void run() {
        try {
            while (!closed.get()) {
                heartbeat.beat();
                selector.select(BEAT_MILLIS); // an idle reader turns too, so that its heartbeat shows it alive
                registerPending();
                injectFaultIfAsked();
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey key = it.next();
                    it.remove();
                    ((SimulatedBoundPort) key.attachment()).onReadable(key, scratch);
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "simulated event channel reader failed; no more events", e);
        } catch (Error e) {
            // as XenEventChannels: without this reader no guest is served again, so the process must end
            Thread self = Thread.currentThread();
            self.getUncaughtExceptionHandler().uncaughtException(self, e); // the daemon's halts (exit 70)
        } finally {
            if (closed.get()) {
                PortWire.closeQuietly(selector);
            }
        }
    }

    /**
     * Test-only fault seam, simulation only: if {@link SimulationDirectory#readerFault()} exists, it is
     * removed and this reader fails with an {@link OutOfMemoryError} before delivering the turn's events, as
     * a real allocation failure there would. Looked for at most every {@value #FAULT_CHECK_MILLIS} ms, idle
     * turns included: once per event it cost the data path a stat per command.
     */
    private void injectFaultIfAsked() throws IOException {
        long now = System.nanoTime();
        if (now - nextFaultCheck < 0) {
            return;
        }
        nextFaultCheck = now + FAULT_CHECK_MILLIS * 1_000_000;
        if (Files.deleteIfExists(directory.readerFault())) {
            throw new OutOfMemoryError("injected through " + directory.readerFault() + " (simulated host only)");
        }
    }

    private void registerPending() {
        SimulatedBoundPort port;
        while ((port = toRegister.poll()) != null) {
            try {
                port.channel().register(selector, SelectionKey.OP_READ, port);
            } catch (ClosedChannelException unboundMeanwhile) {
                // closed between bind and registration: nothing to listen to
            }
        }
    }
}
