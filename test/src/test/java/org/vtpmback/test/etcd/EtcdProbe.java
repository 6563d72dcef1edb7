package org.vtpmback.test.etcd;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;

/**
 * The fixture's own look at a member, independent of the code under test: {@code GET /health} and
 * {@code POST /v3/maintenance/status} over plain HTTP or with the test client certificate. Thread-safe.
 */
final class EtcdProbe {
    private static final Pattern MEMBER_ID = Pattern.compile("\"member_id\":\"(\\d+)\"");
    private static final Pattern LEADER = Pattern.compile("\"leader\":\"(\\d+)\"");
    private static final Pattern TTL = Pattern.compile("\"TTL\":\"(-?\\d+)\"");
    private static final Duration TIMEOUT = Duration.ofSeconds(2);

    /** A member's id and the id of the leader it knows. */
    record Status(String memberId, String leaderId) {
    }

    private final HttpClient http;

    EtcdProbe(Optional<SSLContext> tls) {
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT);
        tls.ifPresent(b::sslContext);
        this.http = b.build();
    }

    /** Whether the member answers {@code /health} with true (it has a leader and serves a quorum read). */
    boolean healthy(URI member) {
        return send(HttpRequest.newBuilder(member.resolve("/health")).timeout(TIMEOUT).GET().build())
                .map(body -> body.contains("\"health\":\"true\"")).orElse(false);
    }

    /** The member's status, or empty if it does not answer. */
    Optional<Status> status(URI member) {
        return send(HttpRequest.newBuilder(member.resolve("/v3/maintenance/status")).timeout(TIMEOUT)
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build())
                .map(body -> new Status(group(MEMBER_ID, body), group(LEADER, body)));
    }

    /**
     * The whole seconds etcd still gives lease {@code id} ({@code /v3/lease/timetolive}; -1: expired or
     * unknown; 0, which the gateway leaves out, is under a second), or empty if the member does not answer.
     * One HTTP round trip: fast enough to look right at a moment.
     */
    Optional<Long> leaseTtl(URI member, long id) {
        return send(HttpRequest.newBuilder(member.resolve("/v3/lease/timetolive")).timeout(TIMEOUT)
                .POST(HttpRequest.BodyPublishers.ofString("{\"ID\":\"" + id + "\"}")).build())
                .map(body -> Long.parseLong(Optional.ofNullable(group(TTL, body)).orElse("0")));
    }

    private Optional<String> send(HttpRequest request) {
        try {
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? Optional.of(r.body()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private static String group(Pattern p, String text) {
        Matcher m = p.matcher(text);
        return m.find() ? m.group(1) : null;
    }
}
