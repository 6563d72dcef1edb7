package org.vtpmback.test.bench;

import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.emulator.ProbeTimes;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.Guest;

/** {@link ConnectBenchmark}'s steps on the relay side: a guest's probe, timed, and the wait for a device's end. */
final class ConnectProbe {
    private ConnectProbe() {
    }

    /**
     * Until the daemon has let go of {@code g}'s device: a reboot's save runs as libxl removes the old device, which the
     * emulated toolstack does at once, while a real one builds the new domain first (memory, kernel) before adding its
     * devices. Not timed: what is measured starts at the new domain's probe.
     */
    static void awaitGone(DaemonProcess daemon, Guest g) throws Exception {
        String gone = "domain " + g.domid() + " vtpm 0: device gone";
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!daemon.log().contains(gone)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no '" + gone + "' in the daemon's log within 30 s");
            }
            Thread.sleep(5);
        }
    }

    /**
     * One probe: ms from its start to the frontend's own Connected, then to a GetRandom's answer sent after it; and
     * the frontend's stamps.
     */
    record Probe(double connected, double answer, ProbeTimes times) {
        /** Initialised committed -> the frontend's watch sees the backend Connected. */
        double initConnected() {
            return ProbeTimes.ms(times.initialised(), times.backendConnected());
        }

        /** Initialised committed -> the probe's first command (sent with it) answered. */
        double initAnswer() {
            return ProbeTimes.ms(times.initialised(), times.firstAnswer());
        }
    }

    /** The domain exists, its backend in InitWait: the frontend probes {@code delayMillis} later. */
    static Probe probeAndAnswer(Guest g, long delayMillis) throws Exception {
        Thread.sleep(delayMillis);
        long t0 = System.nanoTime();
        g.unpause();
        long t1 = System.nanoTime();
        byte[] answer = g.transmit(TpmCommands.getRandom(8));
        long t2 = System.nanoTime();
        if (answer.length < 10 || java.nio.ByteBuffer.wrap(answer).getInt(6) != 0) {
            throw new IllegalStateException("domain " + g.domid() + ": GetRandom failed");
        }
        g.frontend().firstResponse().get();
        ProbeTimes times = g.frontend().probeTimes();
        while (times.firstAnswer() == 0) { // stamped by the answer's own thread, just after it completed the future
            Thread.onSpinWait();
            times = g.frontend().probeTimes();
        }
        return new Probe((t1 - t0) / 1e6, (t2 - t1) / 1e6, times);
    }
}
