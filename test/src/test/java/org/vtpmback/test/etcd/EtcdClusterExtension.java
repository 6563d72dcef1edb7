package org.vtpmback.test.etcd;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.vtpmback.test.xenstored.TestDirs;

/**
 * JUnit 5 extension behind {@link UseEtcdCluster}: one cluster per test class, its data in a temp folder
 * on tmpfs ({@code /dev/shm/etcd-*}, else {@code /tmp}: the tests are about members failing, not about
 * the disk, and a busy disk would only slow every fsync), deleted afterwards unless
 * {@code -Detcd.keep=true} or the class failed.
 */
public final class EtcdClusterExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(EtcdClusterExtension.class);
    private static final String KEY = "cluster";

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        Optional<UseEtcdCluster> cfg = AnnotationSupport.findAnnotation(context.getRequiredTestClass(), UseEtcdCluster.class);
        if (cfg.isEmpty()) {
            return; // a @Nested class shares the enclosing class's cluster
        }
        Path base = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of("/tmp");
        Path dir = Files.createTempDirectory(base, "etcd-");
        context.getStore(NS).put(KEY, EtcdCluster.start(dir, cfg.get().members(), cfg.get().tls()));
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        Object c = context.getStore(NS).remove(KEY);
        if (c instanceof EtcdCluster cluster) {
            cluster.close();
            TestDirs.deleteUnlessFailed(context, cluster.dir(), "etcd cluster dir", Boolean.getBoolean("etcd.keep"));
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext pc, ExtensionContext ec) {
        return pc.getParameter().getType() == EtcdCluster.class;
    }

    @Override
    public Object resolveParameter(ParameterContext pc, ExtensionContext ec) {
        EtcdCluster c = ec.getStore(NS).get(KEY, EtcdCluster.class);
        if (c == null) {
            throw new ParameterResolutionException("no etcd cluster for " + ec.getDisplayName() + ": annotate the class with @UseEtcdCluster");
        }
        return c;
    }
}
