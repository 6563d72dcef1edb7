package org.vtpmback.etcd;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One reply of etcd's JSON gateway, read back from protobuf's JSON mapping: int64 fields come as strings,
 * bytes as base64, and a field at its zero value is left out (so a missing number is 0, a missing
 * {@code succeeded} is false, a missing {@code kvs} is no key).
 *
 * @param body      the reply object
 * @param sentNanos {@link System#nanoTime} just before the request that got this reply was sent (to the
 *                  member that answered); the lease deadline counts from here
 * @param endpoint  the member that answered
 */
record GatewayReply(Map<String, Object> body, long sentNanos, URI endpoint) {
    /** The cluster revision this reply was made at ({@code header.revision}). */
    long revision() throws IOException {
        return number(object(body, "header"), "revision");
    }

    /** Whether a txn's compares all held. */
    boolean succeeded() {
        return Boolean.TRUE.equals(body.get("succeeded"));
    }

    /**
     * The key-values of the {@code index}-th response of a txn, which must be a range
     * ({@code response_range}); empty if the key does not exist.
     */
    List<KeyValue> rangeResponse(int index) throws IOException {
        List<Map<String, Object>> responses = objects(body, "responses");
        if (index >= responses.size()) {
            throw new IOException("etcd's txn reply has " + responses.size() + " responses, wanted #" + index);
        }
        Map<String, Object> range = responses.get(index).containsKey("response_range")
                ? object(responses.get(index), "response_range") : null;
        if (range == null) {
            throw new IOException("etcd's txn response #" + index + " is not a range: " + responses.get(index).keySet());
        }
        return keyValues(range);
    }

    /** The key-values of a range reply (the body itself). */
    List<KeyValue> keyValues() throws IOException {
        return keyValues(body);
    }

    private static List<KeyValue> keyValues(Map<String, Object> range) throws IOException {
        List<KeyValue> kvs = new ArrayList<>();
        for (Map<String, Object> kv : objects(range, "kvs")) {
            kvs.add(new KeyValue(bytes(kv, "key"), bytes(kv, "value"), number(kv, "create_revision"),
                    number(kv, "mod_revision"), number(kv, "version"), number(kv, "lease")));
        }
        return kvs;
    }

    /** The only key-value of a range over one key, if the key exists. */
    static Optional<KeyValue> single(List<KeyValue> kvs) throws IOException {
        if (kvs.size() > 1) {
            throw new IOException("etcd returned " + kvs.size() + " key-values for one key");
        }
        return kvs.stream().findFirst();
    }

    static long number(Map<String, Object> object, String field) throws IOException {
        Object v = object.get(field);
        if (v == null) {
            return 0;
        }
        if (v instanceof Long l) {
            return l;
        }
        if (v instanceof String s) {
            try {
                return Long.parseLong(s);
            } catch (NumberFormatException e) {
                throw new IOException("etcd's field " + field + " is not an int64: '" + s + "'", e);
            }
        }
        throw new IOException("etcd's field " + field + " is not a number: " + v);
    }

    static byte[] bytes(Map<String, Object> object, String field) throws IOException {
        Object v = object.get(field);
        if (v == null) {
            return new byte[0];
        }
        if (!(v instanceof String s)) {
            throw new IOException("etcd's field " + field + " is not base64 text: " + v);
        }
        try {
            return Base64.getDecoder().decode(s);
        } catch (IllegalArgumentException e) {
            throw new IOException("etcd's field " + field + " is not base64: " + e.getMessage(), e);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Map<String, Object> object, String field) throws IOException {
        Object v = object.get(field);
        if (!(v instanceof Map<?, ?>)) {
            throw new IOException("etcd's reply has no object '" + field + "': " + object.keySet());
        }
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> objects(Map<String, Object> object, String field) throws IOException {
        Object v = object.get(field);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> list) || !list.stream().allMatch(e -> e instanceof Map<?, ?>)) {
            throw new IOException("etcd's field " + field + " is not a list of objects");
        }
        return (List<Map<String, Object>>) v;
    }
}
