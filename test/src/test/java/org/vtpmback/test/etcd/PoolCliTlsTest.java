package org.vtpmback.test.etcd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.etcd.EtcdTls;
import org.vtpmback.hotplug.cli.Main;

/**
 * {@code vtpmback check} against a member with https and {@code --client-cert-auth}: the pool's client certificate
 * passes each etcd check; a certificate from another CA fails the member check with the TLS advice.
 */
@UseEtcdCluster(members = 1, tls = true)
@Timeout(60)
class PoolCliTlsTest {
    @TempDir
    Path tmp;

    private String check(EtcdCluster etcd, EtcdTls tls) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("check", "--set", "state-dir=" + tmp.resolve("state"),
                "--set", "runtime-dir=" + tmp.resolve("run"), "--set", "master-key=" + tmp.resolve("state/master.key"),
                "--set", "store=etcd", "--set", "etcd-endpoints=" + etcd.clientUrl(0), "--set", "etcd-prefix=/tlscli",
                "--set", "etcd-ca=" + tls.caCertificate(), "--set", "etcd-cert=" + tls.clientCertificate(),
                "--set", "etcd-key=" + tls.clientKey(), "--set", "pool-host-id=cli-host"));
        int rc = Main.run(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertEquals(1, rc, "xen and xenstored fail here, whatever etcd says"); // no Xen on the test machine
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void checkPassesWithThePoolsCertificateAndFailsWithAStrangersOne(EtcdCluster etcd) throws Exception {
        EtcdTls pool = etcd.settings("/tlscli", Duration.ofSeconds(2)).tls().orElseThrow();
        String ok = check(etcd, pool);
        System.out.println("POOL-CLI-TLS check:\n" + ok);
        assertTrue(ok.contains("OK    etcd-member: " + etcd.clientUrl(0) + " is healthy; TLS with this host's client"
                + " certificate"), ok);
        assertTrue(ok.contains("OK    etcd-lease"), ok);
        assertTrue(ok.contains("OK    etcd-prefix"), ok);

        EtcdTls stranger = EtcdTlsFiles.create(etcd.dir().resolve("stranger")).clientTls();
        String bad = check(etcd, new EtcdTls(pool.caCertificate(), stranger.clientCertificate(), stranger.clientKey()));
        System.out.println("POOL-CLI-TLS check (another CA's client certificate):\n" + bad);
        assertTrue(bad.lines().anyMatch(l -> l.startsWith("FAIL  etcd-member: " + etcd.clientUrl(0)) && l.contains("TLS failed")),
                bad);
        assertTrue(bad.contains("FAIL  etcd-lease"), bad);
    }
}
