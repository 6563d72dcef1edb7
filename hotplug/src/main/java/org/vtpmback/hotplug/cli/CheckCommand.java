package org.vtpmback.hotplug.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.vtpmback.hotplug.config.HostKind;
import org.vtpmback.hotplug.config.VtpmbackConfig;
import org.vtpmback.hotplug.host.Host;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * {@code vtpmback check}: prints the effective configuration, then one {@code OK}/{@code FAIL} line per
 * check (swtpm runs, the Xen side opens, xenstored answers, the directories are usable). Changes
 * nothing on disk. Exit status 1 if any check failed.
 */
final class CheckCommand {
    static final long XENSTORED_TIMEOUT_SECONDS = 10;

    private CheckCommand() {
    }

    /** One check's outcome. */
    record Result(boolean ok, String name, String detail) {
        String line() {
            return String.format("%-4s  %s: %s", ok ? "OK" : "FAIL", name, detail);
        }
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        LogSetup.configure(config.logLevel(), inv.err());
        inv.out().println("vtpmback " + Version.get() + ": configuration "
                + config.source().map(p -> "from " + p).orElse("built-in defaults"
                + (inv.config().isEmpty() ? " (no " + VtpmbackConfig.DEFAULT_FILE + ")" : ""))
                + (inv.overrides().isEmpty() ? "" : ", with " + inv.overrides().size() + " --set override(s)"));
        for (String line : config.describe()) {
            inv.out().println("  " + line);
        }
        inv.out().println();
        List<Result> results = new ArrayList<>();
        results.add(swtpm(config));
        results.add(dir("state-dir", config.stateDir()));
        results.add(dir("runtime-dir", config.runtimeDir()));
        if (config.host() == HostKind.SIMULATED) {
            results.add(dir("simulation-dir", config.simulationDir()));
        } else {
            results.add(xen(config));
        }
        results.add(xenstored(config));
        long failed = results.stream().filter(r -> !r.ok()).count();
        for (Result r : results) {
            inv.out().println(r.line());
        }
        if (failed > 0) {
            inv.out().println(failed + " of " + results.size() + " checks failed");
            return Main.FAILURE;
        }
        inv.out().println("all " + results.size() + " checks passed");
        return Main.OK;
    }

    static Result swtpm(VtpmbackConfig config) {
        try {
            return new Result(true, "swtpm", Swtpm.version(config.swtpm()));
        } catch (Swtpm.Unusable e) {
            return new Result(false, "swtpm", e.getMessage());
        }
    }

    static Result dir(String key, Path dir) {
        String problem = Dirs.problem(dir);
        return problem == null
                ? new Result(true, key, dir + " is usable")
                : new Result(false, key, problem);
    }

    static Result xen(VtpmbackConfig config) {
        try (Host host = Host.open(config)) {
            return new Result(true, "xen", host.description() + ": grant mapping and event channels open");
        } catch (RuntimeException e) {
            return new Result(false, "xen", e.getMessage());
        }
    }

    static Result xenstored(VtpmbackConfig config) {
        String where = config.xenstoredDescription();
        XsPath backend = XsPath.of("/local/domain/" + config.backendDomid() + "/backend/vtpm");
        Supplier<String> probe = () -> {
            try (XenStore store = config.xenstoredSocket().map(LibXenStore::connect).orElseGet(LibXenStore::connectDefault)) {
                store.list(XsPath.ROOT);
                int frontends = store.list(backend).size();
                return where + " answers; " + frontends + " guest domain(s) under " + backend;
            }
        };
        CompletableFuture<String> answer = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                answer.complete(probe.get());
            } catch (RuntimeException | Error e) {
                answer.completeExceptionally(e);
            }
        }, "vtpmback-check-xenstored");
        t.setDaemon(true);
        t.start();
        try {
            return new Result(true, "xenstored", answer.get(XENSTORED_TIMEOUT_SECONDS, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
            return new Result(false, "xenstored", where + ": " + e.getCause().getMessage());
        } catch (TimeoutException e) {
            return new Result(false, "xenstored", where + ": no answer within " + XENSTORED_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "xenstored", where + ": interrupted");
        }
    }
}
