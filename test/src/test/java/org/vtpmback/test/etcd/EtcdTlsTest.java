package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.EtcdSettings;
import org.vtpmback.etcd.EtcdStoreException;
import org.vtpmback.etcd.EtcdTls;
import org.vtpmback.etcd.LeaseTiming;

/**
 * etcd with {@code --client-cert-auth} on https client URLs: the store works with the pool's client
 * certificate and CA, and a certificate from another CA gets nothing. One member is enough here.
 */
@UseEtcdCluster(members = 1, tls = true)
@Timeout(60)
class EtcdTlsTest {
    private static final LeaseTiming TIMING = LeaseTiming.of(Duration.ofSeconds(20));

    @Test
    void theStoreWorksOverTlsWithTheClientCertificate(EtcdCluster etcd) throws Exception {
        assertTrue(etcd.tls());
        assertEquals("https", etcd.clientUrl(0).getScheme());
        Uuid uuid = new Uuid(UUID.randomUUID().toString());
        try (PoolHost a = PoolHost.join(etcd.settings("/tls", Duration.ofSeconds(2)), "host-a", TIMING)) {
            a.store().acquire(uuid);
            long r1 = a.store().commit(uuid, PoolHost.sealed(64), 0);
            assertEquals(r1, a.store().read(uuid).orElseThrow().modRevision());
            assertTrue(a.lease().isValid());
        }
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefused(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings("/tls", Duration.ofSeconds(2)).tls().orElseThrow();
        Path otherDir = etcd.dir().resolve("other-ca");
        EtcdTls stranger = EtcdTlsFiles.create(otherDir).clientTls();
        EtcdSettings wrongCert = new EtcdSettings(List.of(etcd.clientUrl(0)), "/tls", Duration.ofSeconds(2),
                Optional.of(new EtcdTls(pool.caCertificate(), stranger.clientCertificate(), stranger.clientKey())));
        EtcdStoreException e = assertThrows(EtcdStoreException.class, () -> PoolHost.join(wrongCert, "host-x", TIMING));
        assertTrue(e.getMessage().contains(etcd.clientUrl(0).toString()), e.getMessage());

        URI plain = URI.create("http://127.0.0.1:" + etcd.clientUrl(0).getPort());
        EtcdSettings noTls = EtcdSettings.plain(List.of(plain), "/tls").withRequestTimeout(Duration.ofSeconds(2));
        assertThrows(EtcdStoreException.class, () -> PoolHost.join(noTls, "host-y", TIMING));
    }
}
