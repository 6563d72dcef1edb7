package org.vtpmback.test.xenstored;

import static org.vtpmback.test.xenstored.XsWire.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * A minimal, synchronous xenstore client speaking the raw wire protocol; the transport (UNIX socket
 * or guest ring) is supplied by the subclass. Independent of the project's xenstore module on
 * purpose: the fixture must be able to check that module, not depend on it.
 *
 * <p>Every call sends one request and waits (up to {@link #timeout()}) for its reply; watch events
 * that arrive meanwhile are queued for {@link #awaitWatchEvent}. XS_ERROR replies become
 * {@link XsErrorException}; transport problems become {@link UncheckedIOException}.
 */
public abstract class RawXenstoreConnection implements AutoCloseable {
    /** A fired watch: the path that changed and the token given to {@link #watch}. */
    public record WatchEvent(String path, String token) {
    }

    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private final Deque<WatchEvent> events = new ArrayDeque<>();
    private int nextReqId = 1;
    private Duration timeout = DEFAULT_TIMEOUT;

    /** Sends one complete message. */
    protected abstract void send(byte[] frame, long deadlineNanos) throws IOException;

    /**
     * Receives one complete message, or throws {@link ReceiveTimeoutException} at the deadline. Bytes of
     * a message that is incomplete at the deadline must be kept for the next call.
     */
    protected abstract Message receive(long deadlineNanos) throws IOException;

    public Duration timeout() {
        return timeout;
    }

    public void setTimeout(Duration timeout) {
        this.timeout = timeout;
    }

    /** Sends {@code type} with {@code payload} and returns the reply payload. */
    public synchronized byte[] request(int type, int txId, byte[] payload) {
        int reqId = nextReqId++;
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            send(new Message(type, reqId, txId, payload).encode(), deadline);
            while (true) {
                Message m = receive(deadline);
                if (m.type() == XS_WATCH_EVENT) {
                    queueEvent(m);
                    continue;
                }
                if (m.reqId() != reqId) {
                    throw new IOException("reply for req_id " + m.reqId() + " (type " + m.type() + ") while waiting for " + reqId);
                }
                if (m.type() == XS_ERROR) {
                    throw new XsErrorException(m.text(), type, describe(payload));
                }
                if (m.type() != type) {
                    throw new IOException("reply type " + m.type() + " to request type " + type);
                }
                return m.payload();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String describe(byte[] payload) {
        List<String> parts = split(payload);
        return parts.isEmpty() ? "" : parts.get(0);
    }

    private void queueEvent(Message m) {
        List<String> p = split(m.payload());
        events.add(new WatchEvent(p.isEmpty() ? "" : p.get(0), p.size() > 1 ? p.get(1) : ""));
    }

    private static String text(byte[] payload) {
        return new Message(0, 0, 0, payload).text();
    }

    // ---------------------------------------------------------------- node operations

    public String read(String path) {
        return read(0, path);
    }

    public String read(int txId, String path) {
        return new String(request(XS_READ, txId, strings(path)), StandardCharsets.UTF_8);
    }

    public void write(String path, String value) {
        write(0, path, value);
    }

    public void write(int txId, String path, String value) {
        request(XS_WRITE, txId, pathAndValue(path, value.getBytes(StandardCharsets.UTF_8)));
    }

    public void mkdir(String path) {
        request(XS_MKDIR, 0, strings(path));
    }

    public void rm(String path) {
        request(XS_RM, 0, strings(path));
    }

    public List<String> directory(String path) {
        return split(request(XS_DIRECTORY, 0, strings(path)));
    }

    /** Permissions as the daemon spells them, e.g. {@code ["n0", "r9"]} (owner first). */
    public List<String> getPerms(String path) {
        return split(request(XS_GET_PERMS, 0, strings(path)));
    }

    /** {@code perms}: owner first, e.g. {@code setPerms("/local/domain/9", "n9")} or {@code ("/shared", "n0", "r9")}. */
    public void setPerms(String path, String... perms) {
        String[] all = new String[perms.length + 1];
        all[0] = path;
        System.arraycopy(perms, 0, all, 1, perms.length);
        request(XS_SET_PERMS, 0, strings(all));
    }

    // ---------------------------------------------------------------- watches

    public void watch(String path, String token) {
        request(XS_WATCH, 0, strings(path, token));
    }

    public void unwatch(String path, String token) {
        request(XS_UNWATCH, 0, strings(path, token));
    }

    /** The next watch event, waiting up to {@code wait}; null if none arrived. */
    public synchronized WatchEvent awaitWatchEvent(Duration wait) {
        if (!events.isEmpty()) {
            return events.poll();
        }
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            while (events.isEmpty()) {
                Message m = receive(deadline);
                if (m.type() != XS_WATCH_EVENT) {
                    throw new IOException("unexpected unsolicited message of type " + m.type());
                }
                queueEvent(m);
            }
        } catch (ReceiveTimeoutException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return events.poll();
    }

    /** Waits up to {@code wait} for an event with this path and token, dropping others. */
    public boolean awaitWatchEvent(String path, String token, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            WatchEvent e = awaitWatchEvent(Duration.ofNanos(left));
            if (e == null) {
                return false;
            }
            if (e.path().equals(path) && e.token().equals(token)) {
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- transactions

    public int transactionStart() {
        return Integer.parseUnsignedInt(text(request(XS_TRANSACTION_START, 0, strings(""))));
    }

    /** Commits ({@code commit=true}) or aborts; a conflicting commit throws {@link XsErrorException} EAGAIN. */
    public void transactionEnd(int txId, boolean commit) {
        request(XS_TRANSACTION_END, txId, strings(commit ? "T" : "F"));
    }

    // ---------------------------------------------------------------- domains (privileged)

    public void introduce(int domid, long mfn, int port) {
        request(XS_INTRODUCE, 0, strings(Integer.toString(domid), Long.toUnsignedString(mfn), Integer.toString(port)));
    }

    public void release(int domid) {
        request(XS_RELEASE, 0, strings(Integer.toString(domid)));
    }

    public boolean isDomainIntroduced(int domid) {
        String r = text(request(XS_IS_DOMAIN_INTRODUCED, 0, strings(Integer.toString(domid))));
        return r.equals("T");
    }

    public String getDomainPath(int domid) {
        return text(request(XS_GET_DOMAIN_PATH, 0, strings(Integer.toString(domid))));
    }

    @Override
    public abstract void close();

    /** Parses one message from the start of {@code buf[0..len)}, or returns null if incomplete. */
    protected static Message parse(byte[] buf, int len) {
        if (len < HEADER_SIZE) {
            return null;
        }
        int[] h = decodeHeader(java.util.Arrays.copyOf(buf, HEADER_SIZE));
        if (len < HEADER_SIZE + h[3]) {
            return null;
        }
        return new Message(h[0], h[1], h[2], java.util.Arrays.copyOfRange(buf, HEADER_SIZE, HEADER_SIZE + h[3]));
    }

    /** Thrown by {@link #receive} when the deadline passes with no complete message. */
    protected static final class ReceiveTimeoutException extends IOException {
        private static final long serialVersionUID = 1L;

        public ReceiveTimeoutException(String message) {
            super(message);
        }
    }
}
