package org.vtpmback.test.etcd;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Debian's {@code etcdctl} (etcd-client 3.4, v3 API) run as an operator would, with the test client certificate under TLS. */
final class Etcdctl {
    static final Path PATH = Path.of("/usr/bin/etcdctl");

    private Etcdctl() {
    }

    /** Runs {@code etcdctl <args>} against {@code endpoints} (none: a local command such as snapshot restore). */
    static String run(List<URI> endpoints, Optional<EtcdTlsFiles> tls, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(PATH.toString()));
        if (!endpoints.isEmpty()) {
            cmd.add("--endpoints=" + endpoints.stream().map(URI::toString).collect(Collectors.joining(",")));
            cmd.addAll(List.of("--dial-timeout=2s", "--command-timeout=5s"));
        }
        tls.ifPresent(t -> cmd.addAll(List.of("--cacert=" + t.dir().resolve(EtcdTlsFiles.CA),
                "--cert=" + t.dir().resolve(EtcdTlsFiles.CLIENT), "--key=" + t.dir().resolve(EtcdTlsFiles.CLIENT_KEY))));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("ETCDCTL_API", "3");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException("etcdctl " + String.join(" ", args) + " failed: " + out);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted during etcdctl " + String.join(" ", args), e);
        }
        return out;
    }
}
