package org.vtpmback.etcd;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * etcd's v3 API through its JSON gateway ({@code POST <member>/v3/kv/range} and friends; etcd 3.4 serves
 * it on every client URL) with the JDK's HttpClient. A request goes to the member that answered last;
 * if that member fails (no connection, no answer within the request timeout, or etcd's own
 * "unavailable": no leader, request timed out) it goes to the next, each member at most once per call.
 *
 * <p>A write that failed on one member may still have been applied there: callers make their writes
 * safe to repeat (compares in the txn) and recognise their own earlier write in the failure branch.
 * Thread-safe.
 */
public final class EtcdGateway {
    /** etcd refuses requests above 1.5 MiB (--max-request-bytes); a reply far above that is not from etcd. */
    private static final int MAX_REPLY_BYTES = 16 << 20;
    /** gRPC status codes that mean "try another member": UNAVAILABLE and DEADLINE_EXCEEDED. */
    private static final List<Long> RETRY_CODES = List.of(14L, 4L);

    private final EtcdSettings settings;
    private final HttpClient http;
    private final AtomicInteger current = new AtomicInteger();

    public EtcdGateway(EtcdSettings settings) throws EtcdStoreException {
        this.settings = settings;
        HttpClient.Builder b = HttpClient.newBuilder()
                // HTTP/1.1: the gateway shares its port with gRPC (HTTP/2); no h2c upgrade dance.
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.requestTimeout());
        if (settings.tls().isPresent()) {
            b.sslContext(TlsContexts.of(settings.tls().get()));
        }
        this.http = b.build();
    }

    public EtcdSettings settings() {
        return settings;
    }

    /**
     * {@code GET <endpoint>/health} on one member only (no failover: {@code vtpmback check} asks each), with the
     * same TLS setup as every call.
     *
     * @return the reply body if the member answered 200
     * @throws IOException if it did not answer, TLS failed, or it answered another status (the message has it)
     */
    public String health(URI endpoint) throws IOException {
        HttpRequest req = HttpRequest.newBuilder(endpoint.resolve("/health")).timeout(settings.requestTimeout()).GET().build();
        HttpResponse<String> resp;
        try {
            resp = http.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted during GET /health on " + endpoint);
        }
        String body = resp.body().strip();
        if (resp.statusCode() != 200) {
            throw new IOException("HTTP " + resp.statusCode() + ": " + body);
        }
        return body;
    }

    /**
     * Calls {@code rpc} (e.g. {@code /v3/kv/txn}) with a JSON request.
     *
     * @throws EtcdUnavailableException if no member answered (each tried once); a write may have been applied
     * @throws EtcdStoreException       if etcd refused the request itself (the message says why)
     */
    GatewayReply call(String rpc, Map<String, Object> request) throws EtcdStoreException, InterruptedIOException {
        byte[] body = GatewayJson.write(request);
        List<URI> endpoints = settings.endpoints();
        int first = current.get();
        List<String> failures = new ArrayList<>();
        IOException last = null;
        for (int i = 0; i < endpoints.size(); i++) {
            int index = (first + i) % endpoints.size();
            URI endpoint = endpoints.get(index);
            try {
                GatewayReply reply = send(endpoint, rpc, body);
                current.set(index);
                return reply;
            } catch (RetryElsewhere e) {
                failures.add(endpoint + ": " + e.getMessage());
                last = e;
            }
        }
        boolean tls = failures.stream().anyMatch(f -> f.contains("SSL"));
        throw new EtcdUnavailableException("no etcd member answered " + rpc + " (" + String.join("; ", failures) + "); "
                + (tls ? "TLS failed: check that the CA signed the members' certificates and that they accept this host's"
                        + " client certificate" : "check that a majority of the members run and that this host reaches them"),
                last);
    }

    private GatewayReply send(URI endpoint, String rpc, byte[] body)
            throws RetryElsewhere, EtcdStoreException, InterruptedIOException {
        HttpRequest req = HttpRequest.newBuilder(endpoint.resolve(rpc))
                .timeout(settings.requestTimeout())
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        long sent = System.nanoTime();
        HttpResponse<InputStream> resp;
        byte[] replyBytes;
        try {
            resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = resp.body()) {
                replyBytes = in.readNBytes(MAX_REPLY_BYTES + 1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted during etcd " + rpc + " on " + endpoint);
        } catch (IOException e) {
            throw new RetryElsewhere(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()), e);
        }
        if (replyBytes.length > MAX_REPLY_BYTES) {
            throw new EtcdStoreException("etcd's reply to " + rpc + " from " + endpoint + " exceeds " + MAX_REPLY_BYTES + " bytes");
        }
        Map<String, Object> json;
        try {
            json = GatewayJson.readObject(replyBytes);
        } catch (IOException e) {
            if (resp.statusCode() >= 500) {
                throw new RetryElsewhere("HTTP " + resp.statusCode(), e);
            }
            throw new EtcdStoreException("etcd's reply to " + rpc + " from " + endpoint + " (HTTP " + resp.statusCode()
                    + ") is not JSON: " + e.getMessage(), e);
        }
        if (resp.statusCode() == 200) {
            return new GatewayReply(json, sent, endpoint);
        }
        return refused(endpoint, rpc, resp.statusCode(), json);
    }

    private static GatewayReply refused(URI endpoint, String rpc, int status, Map<String, Object> json)
            throws RetryElsewhere, EtcdStoreException {
        long code;
        try {
            code = GatewayReply.number(json, "code");
        } catch (IOException e) {
            code = -1;
        }
        String message = String.valueOf(json.getOrDefault("message", json.getOrDefault("error", "")));
        if (RETRY_CODES.contains(code) || status >= 500 && code <= 0) {
            throw new RetryElsewhere("HTTP " + status + ", " + message, null);
        }
        throw new EtcdRefusedException("etcd refused " + rpc + " on " + endpoint + ": " + message
                + " (HTTP " + status + ", gRPC code " + code + ")", code);
    }

    /** This member failed; the next one may answer. */
    private static final class RetryElsewhere extends IOException {
        private static final long serialVersionUID = 1L;

        RetryElsewhere(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
