package org.vtpmback.test.xenstored;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * JUnit 5 extension behind {@link UseXenstored}: one private daemon per test class, in a short temp
 * dir ({@code /tmp/xsd-*}, deleted afterwards unless {@code -Dxenstored.keep=true} or the class
 * failed). Missing Xen debs make {@code beforeAll} throw, so the class fails loudly.
 */
public final class XenstoredExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(XenstoredExtension.class);
    private static final String KEY = "daemon";

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        Class<?> testClass = context.getRequiredTestClass();
        Optional<UseXenstored> cfg = AnnotationSupport.findAnnotation(testClass, UseXenstored.class);
        if (cfg.isEmpty()) {
            return; // a @Nested class without its own annotation shares the enclosing class's daemon
        }
        Map<String, String> options = new LinkedHashMap<>();
        for (String o : cfg.get().options()) {
            int eq = o.indexOf('=');
            options.put(eq < 0 ? o.trim() : o.substring(0, eq).trim(), eq < 0 ? "" : o.substring(eq + 1).trim());
        }
        XenstoredDaemon.requireXenRoot(XenstoredDaemon.xenRootFromProperties());
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "xsd-" + cfg.get().value().id() + "-");
        XenstoredDaemon daemon = XenstoredDaemon.start(cfg.get().value(), dir, options);
        context.getStore(NS).put(KEY, daemon);
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        Object d = context.getStore(NS).remove(KEY);
        if (d instanceof XenstoredDaemon daemon) {
            daemon.close();
            TestDirs.deleteUnlessFailed(context, daemon.shimDir(), "xenstored state dir", Boolean.getBoolean("xenstored.keep"));
        }
    }

    /** The daemon of the current test class (or an enclosing/ancestor context), for use outside parameters. */
    public static XenstoredDaemon daemon(ExtensionContext context) {
        XenstoredDaemon d = context.getStore(NS).get(KEY, XenstoredDaemon.class);
        if (d == null) {
            throw new IllegalStateException("no xenstored for " + context.getDisplayName() + ": annotate the class with @UseXenstored");
        }
        return d;
    }

    @Override
    public boolean supportsParameter(ParameterContext pc, ExtensionContext ec) throws ParameterResolutionException {
        return pc.getParameter().getType() == XenstoredDaemon.class;
    }

    @Override
    public Object resolveParameter(ParameterContext pc, ExtensionContext ec) throws ParameterResolutionException {
        try {
            return daemon(ec);
        } catch (IllegalStateException e) {
            throw new ParameterResolutionException(e.getMessage(), e);
        }
    }
}
