package org.vtpmback.test.host;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.vtpmback.test.xenstored.TestDirs;
import org.vtpmback.test.xenstored.XenstoredExtension;

/**
 * JUnit 5 extension behind {@link UseSimulatedHost}: before each test (and so before its
 * {@code @BeforeEach} methods) a work folder in the temp dir and a {@link SimulatedVtpmHost} on it
 * with its daemon started; after each test (and its {@code @AfterEach} methods) the host closed and
 * the folder deleted, or kept and named on stdout when the test failed.
 */
public final class SimulatedHostExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(SimulatedHostExtension.class);
    private static final String KEY = "host";

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        Path work = Files.createTempDirectory("sim-host-");
        SimulatedVtpmHost host = new SimulatedVtpmHost(XenstoredExtension.daemon(context), work);
        context.getStore(NS).put(KEY, host); // stored before the daemon starts, so afterEach closes a half-started host too
        host.startDaemon();
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        SimulatedVtpmHost host = context.getStore(NS).remove(KEY, SimulatedVtpmHost.class);
        if (host != null) {
            host.close();
            TestDirs.deleteUnlessFailed(context, host.work(), "simulated host work dir", false);
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext pc, ExtensionContext ec) throws ParameterResolutionException {
        return pc.getParameter().getType() == SimulatedVtpmHost.class;
    }

    @Override
    public Object resolveParameter(ParameterContext pc, ExtensionContext ec) throws ParameterResolutionException {
        SimulatedVtpmHost host = ec.getStore(NS).get(KEY, SimulatedVtpmHost.class);
        if (host == null) {
            throw new ParameterResolutionException("no simulated host for " + ec.getDisplayName()
                    + ": @UseSimulatedHost gives one per test, to test and @BeforeEach methods");
        }
        return host;
    }
}
