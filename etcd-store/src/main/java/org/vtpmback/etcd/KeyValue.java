package org.vtpmback.etcd;

import java.nio.charset.StandardCharsets;

/**
 * One key as etcd returned it. Immutable by convention: the arrays are not copied (package-private).
 *
 * @param key            the key
 * @param value          its value
 * @param createRevision the revision that created it (0: it does not exist)
 * @param modRevision    the revision of its last change
 * @param version        how often it changed since created
 * @param lease          the lease it is attached to (0: none)
 */
record KeyValue(byte[] key, byte[] value, long createRevision, long modRevision, long version, long lease) {
    /** The value as UTF-8 text (owner keys hold a host name). */
    String valueText() {
        return new String(value, StandardCharsets.UTF_8);
    }
}
