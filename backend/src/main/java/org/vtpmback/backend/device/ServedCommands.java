package org.vtpmback.backend.device;

import java.nio.ByteBuffer;
import java.util.OptionalLong;

/**
 * What a ring's data path has served: the count and the time of the last command, for status output, and
 * the debug line per command. Kept apart from the data path's two ways, which both record here. Written by
 * whoever holds the device's turn (one writer at a time); read from the control socket's thread, hence
 * volatile.
 */
final class ServedCommands {
    private final System.Logger log;
    private final String device;
    private volatile long served;
    /** System.nanoTime() after the last command, or 0 before the first; for status output. */
    private volatile long lastCommandNanos;

    /** @param log the data path's logger (its lines are the device's) */
    ServedCommands(System.Logger log, String device) {
        this.log = log;
        this.device = device;
    }

    /** In the device's turn, once swtpm answered a command: counts it; returns when (System.nanoTime()). */
    long executed() {
        long executed = System.nanoTime();
        served++; // one writer at a time: whoever holds the device's turn
        lastCommandNanos = executed;
        return executed;
    }

    long served() {
        return served;
    }

    /** When the last command ran (System.nanoTime()), if one has. */
    OptionalLong lastCommandNanos() {
        long t = lastCommandNanos;
        return t == 0 ? OptionalLong.empty() : OptionalLong.of(t);
    }

    /**
     * The debug line of a command (nothing unless debug logging is on): its ordinal read from
     * {@code command}'s position, its answer's code, the engine's time and the time since (persisting).
     */
    void logDebug(ByteBuffer command, int rc, int responseLength, long start, long executed) {
        if (log.isLoggable(System.Logger.Level.DEBUG)) {
            // Absolute reads from 0 to the limit: sending the command to swtpm moved its position to the end, and a
            // read past it would throw on the reply thread, which would answer a served command with a TPM failure.
            int length = command.limit();
            log.log(System.Logger.Level.DEBUG, String.format("%s: command %d ordinal 0x%08x (%d bytes) -> rc 0x%x"
                    + " (%d bytes) in %.1f ms + %.1f ms persisting", device, served, length >= 10 ? command.getInt(6) : -1,
                    length, rc, responseLength, (executed - start) / 1e6, (System.nanoTime() - executed) / 1e6));
        }
    }

    /** The big-endian word at {@code offset} of a packet (a TPM header field), or -1 if it is too short. */
    static int word(byte[] packet, int offset) {
        return packet.length >= offset + 4 ? ByteBuffer.wrap(packet, offset, 4).getInt() : -1;
    }
}
