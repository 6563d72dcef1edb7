package org.vtpmback.etcd;

import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The pieces of an etcd txn request ({@code /v3/kv/txn}) in the gateway's JSON form: compares and the
 * put, delete and range operations. int64s are written as strings and bytes as base64, as protobuf's JSON
 * mapping wants.
 */
final class TxnOps {
    private TxnOps() {
    }

    static Map<String, Object> txn(List<Map<String, Object>> compare, List<Map<String, Object>> success,
                                   List<Map<String, Object>> failure) {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("compare", compare);
        t.put("success", success);
        t.put("failure", failure);
        return t;
    }

    /** The key does not exist (its create revision is 0). */
    static Map<String, Object> absent(byte[] key) {
        return compare(key, "CREATE", "create_revision", "0");
    }

    static Map<String, Object> valueIs(byte[] key, byte[] value) {
        return compare(key, "VALUE", "value", b64(value));
    }

    static Map<String, Object> leaseIs(byte[] key, long lease) {
        return compare(key, "LEASE", "lease", Long.toString(lease));
    }

    /** The key's last change was at {@code revision} (0: the key does not exist). */
    static Map<String, Object> modRevisionIs(byte[] key, long revision) {
        return compare(key, "MOD", "mod_revision", Long.toString(revision));
    }

    private static Map<String, Object> compare(byte[] key, String target, String field, String value) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("key", b64(key));
        c.put("result", "EQUAL");
        c.put("target", target);
        c.put(field, value);
        return c;
    }

    /** Puts {@code value}; attached to {@code lease} unless it is 0. */
    static Map<String, Object> put(byte[] key, byte[] value, long lease) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("key", b64(key));
        p.put("value", b64(value));
        if (lease != 0) {
            p.put("lease", Long.toString(lease));
        }
        return Map.of("request_put", p);
    }

    static Map<String, Object> delete(byte[] key) {
        return Map.of("request_delete_range", Map.of("key", b64(key)));
    }

    static Map<String, Object> range(byte[] key) {
        return Map.of("request_range", rangeRequest(key));
    }

    /** A linearizable read of one key (the gateway's default; serializable would read a member's possibly stale copy). */
    static Map<String, Object> rangeRequest(byte[] key) {
        return Map.of("key", b64(key));
    }

    static String b64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }
}
