package org.vtpmback.test.emulator;

/**
 * Where one probe's time went, as {@link System#nanoTime()} stamps taken by the emulated tpmfront on its own
 * threads (0 when the step has not happened): the benchmark times a connect from the frontend's Initialised,
 * not from the probe's start, and can tell the backend's share from the frontend's own hops.
 *
 * @param start            the probe began (before the page is allocated)
 * @param initialised      the frontend's state = Initialised committed (ring-ref and port published just before)
 * @param backendConnected the frontend's watch saw the backend's state = Connected
 * @param connected        the frontend's own state = Connected committed
 * @param firstAnswer      the probe's first command (sent at Initialised) answered
 */
public record ProbeTimes(long start, long initialised, long backendConnected, long connected, long firstAnswer) {
    /** Milliseconds from {@code from} to {@code to}; NaN when either is missing. */
    public static double ms(long from, long to) {
        return from == 0 || to == 0 ? Double.NaN : (to - from) / 1e6;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "publish %.2f, Initialised -> backend Connected seen %.2f, -> own Connected %.2f,"
                + " first answer at %.2f ms after Initialised", ms(start, initialised), ms(initialised, backendConnected),
                ms(backendConnected, connected), ms(initialised, firstAnswer));
    }
}
