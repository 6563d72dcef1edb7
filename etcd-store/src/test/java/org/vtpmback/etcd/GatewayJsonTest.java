package org.vtpmback.etcd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The gateway's JSON both ways, with replies captured verbatim from Debian's etcd 3.4.23 (curl on loopback). */
class GatewayJsonTest {
    /** {@code /v3/kv/txn} whose compare failed: no "succeeded" (false is left out), the failure branch's range. */
    private static final String FAILED_TXN = "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\","
            + "\"revision\":\"2\",\"raft_term\":\"2\"},\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"2\"},"
            + "\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}],"
            + "\"count\":\"1\"}}]}";
    /** {@code /v3/kv/txn} that succeeded, reading a key attached to a lease. */
    private static final String GOOD_TXN = "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\","
            + "\"revision\":\"3\",\"raft_term\":\"2\"},\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":"
            + "{\"revision\":\"3\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\","
            + "\"value\":\"YmFy\",\"lease\":\"2324035785415976972\"}],\"count\":\"1\"}}]}";
    /** {@code /v3/kv/range} of a missing key: no kvs, no count. */
    private static final String EMPTY_RANGE = "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\","
            + "\"revision\":\"2\",\"raft_term\":\"2\"}}";

    private static GatewayReply reply(String json) throws IOException {
        return new GatewayReply(GatewayJson.readObject(json.getBytes(StandardCharsets.UTF_8)), 0, URI.create("http://127.0.0.1:1"));
    }

    @Test
    void aFailedTxnIsReadAsNotSucceededWithItsRange() throws IOException {
        GatewayReply r = reply(FAILED_TXN);
        assertFalse(r.succeeded());
        assertEquals(2, r.revision());
        KeyValue kv = r.rangeResponse(0).get(0);
        assertEquals("foo", new String(kv.key(), StandardCharsets.UTF_8));
        assertEquals("bar", kv.valueText());
        assertEquals(2, kv.modRevision());
        assertEquals(0, kv.lease(), "a key without a lease has no lease field");
    }

    @Test
    void aSucceededTxnCarriesTheLeaseAsAnInt64String() throws IOException {
        GatewayReply r = reply(GOOD_TXN);
        assertTrue(r.succeeded());
        assertEquals(3, r.revision());
        assertEquals(2324035785415976972L, r.rangeResponse(0).get(0).lease());
    }

    @Test
    void aMissingKeyIsAnEmptyRange() throws IOException {
        assertTrue(reply(EMPTY_RANGE).keyValues().isEmpty());
    }

    @Test
    void requestsAreWrittenAsTheGatewayWantsThem() throws IOException {
        byte[] key = "/p/owner/x".getBytes(StandardCharsets.UTF_8);
        Map<String, Object> txn = TxnOps.txn(List.of(TxnOps.leaseIs(key, 7)), List.of(TxnOps.put(key, new byte[] {1, 2}, 7)),
                List.of(TxnOps.range(key)));
        String json = new String(GatewayJson.write(txn), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"target\":\"LEASE\""), json);
        assertTrue(json.contains("\"lease\":\"7\""), "int64 as a string: " + json);
        Map<String, Object> back = GatewayJson.readObject(GatewayJson.write(txn));
        @SuppressWarnings("unchecked")
        Map<String, Object> put = (Map<String, Object>) ((Map<String, Object>) ((List<?>) back.get("success")).get(0)).get("request_put");
        assertArrayEquals(new byte[] {1, 2}, GatewayReply.bytes(put, "value"));
    }

    @Test
    void whatIsNotOneJsonObjectIsRefused() {
        assertThrows(IOException.class, () -> GatewayJson.readObject("[1]".getBytes(StandardCharsets.UTF_8)));
        assertThrows(IOException.class, () -> GatewayJson.readObject("{\"a\":1} x".getBytes(StandardCharsets.UTF_8)));
        assertThrows(IOException.class, () -> GatewayJson.readObject("{\"a\":[1,".getBytes(StandardCharsets.UTF_8)));
        String deep = "{\"a\":".repeat(100) + "1" + "}".repeat(100);
        assertThrows(IOException.class, () -> GatewayJson.readObject(deep.getBytes(StandardCharsets.UTF_8)));
        assertThrows(IOException.class, () -> reply("{\"header\":{\"revision\":\"x\"}}").revision());
        assertThrows(IOException.class, () -> reply("{\"kvs\":[{\"value\":\"!!\"}]}").keyValues());
    }
}
