package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.PrivatePaths;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.config.HostKind;
import org.vtpmback.hotplug.config.VtpmbackConfig;
import org.vtpmback.hotplug.host.Host;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * {@code vtpmback check}: prints the effective configuration, then one {@code OK}/{@code WARN}/{@code FAIL}
 * line per check (swtpm runs, the directories are private and usable, the master key is a private
 * regular file of this uid, the Xen side opens, xenstored answers). Changes nothing on disk. Exit
 * status 1 if any check failed; a warning (runtime-dir not on tmpfs, no master key yet) does not fail.
 */
final class CheckCommand {
    static final long XENSTORED_TIMEOUT_SECONDS = 10;

    private CheckCommand() {
    }

    /** How a check came out: a warning does not fail {@code check}, as the daemon starts despite it. */
    enum Status { OK, WARN, FAIL }

    /** One check's outcome. */
    record Result(Status status, String name, String detail) {
        Result(boolean ok, String name, String detail) {
            this(ok ? Status.OK : Status.FAIL, name, detail);
        }

        boolean ok() {
            return status != Status.FAIL;
        }

        String line() {
            return String.format("%-4s  %s: %s", status, name, detail);
        }
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        boolean json = inv.has(ListCommand.JSON);
        if (!json) {
            inv.out().println("vtpmback " + Version.get() + ": configuration "
                    + config.source().map(p -> "from " + p).orElse("built-in defaults"
                    + (inv.config().isEmpty() ? " (no " + VtpmbackConfig.DEFAULT_FILE + ")" : ""))
                    + (inv.overrides().isEmpty() ? "" : ", with " + inv.overrides().size() + " --set override(s)"));
            for (String line : config.describe()) {
                inv.out().println("  " + line);
            }
            inv.out().println();
        }
        List<Result> results = new ArrayList<>();
        results.add(swtpm(config));
        results.add(dir(config.stateDir(), Dirs.Kind.STATE));
        results.add(runtimeDir(config.runtimeDir()));
        results.add(masterKey(config, System.getenv()));
        if (config.host() == HostKind.SIMULATED) {
            results.add(dir("simulation-dir", config.simulationDir()));
        } else {
            results.add(xen(config));
        }
        results.add(xenstored(config));
        if (PoolStores.pooled(config)) {
            results.addAll(PoolChecks.of(config));
        }
        classDataSharing().ifPresent(results::add);
        long failed = results.stream().filter(r -> !r.ok()).count();
        long warnings = results.stream().filter(r -> r.status() == Status.WARN).count();
        if (json) {
            inv.out().println(Json.of(json(config, results, failed, warnings)));
            return failed > 0 ? Main.FAILURE : Main.OK;
        }
        for (Result r : results) {
            inv.out().println(r.line());
        }
        if (failed > 0) {
            inv.out().println(failed + " of " + results.size() + " checks failed");
            return Main.FAILURE;
        }
        inv.out().println("all " + results.size() + " checks passed" + (warnings == 0 ? "" : " (" + warnings + " with a warning)"));
        return Main.OK;
    }

    /** The {@code --json} document; {@link ServiceCommands.Check} documents its fields. */
    private static Map<String, Object> json(VtpmbackConfig config, List<Result> results, long failed, long warnings) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("version", Version.get());
        doc.put("config_file", config.source().map(Path::toString).orElse(null));
        doc.put("config", config.values());
        doc.put("checks", results.stream().map(r -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", r.name());
            m.put("status", r.status().toString());
            m.put("detail", r.detail());
            return m;
        }).toList());
        doc.put("failed", failed);
        doc.put("warnings", warnings);
        return doc;
    }

    static Result swtpm(VtpmbackConfig config) {
        try {
            return new Result(true, "swtpm", Swtpm.version(config.swtpm()));
        } catch (Swtpm.Unusable e) {
            return new Result(false, "swtpm", e.getMessage());
        }
    }

    static Result dir(Path dir, Dirs.Kind kind) {
        String problem = Dirs.problem(dir, kind);
        return problem == null
                ? new Result(true, kind.key, dir + " is usable (a folder of this uid, not a symbolic link, mode "
                        + (kind == Dirs.Kind.STATE ? "0700" : "without group/other write") + "; or creatable)")
                : new Result(false, kind.key, problem);
    }

    /** As {@link #dir}, and a warning, as the daemon logs one, if it is not in RAM. */
    static Result runtimeDir(Path dir) {
        Result r = dir(dir, Dirs.Kind.RUNTIME);
        Optional<String> warning = Dirs.notInRam(dir);
        return r.ok() && warning.isPresent() ? new Result(Status.WARN, r.name(), warning.get()) : r;
    }

    /** The master key (or credential) as the daemon will load it; never makes one. */
    static Result masterKey(VtpmbackConfig config, Map<String, String> env) {
        String name = "master-key";
        Path path;
        try {
            path = MasterKeys.location(config, env);
        } catch (IOException e) {
            return new Result(Status.WARN, name, "master-key-credential = " + config.masterKeyCredential().orElse("")
                    + ": the daemon reads it from $" + MasterKeys.CREDENTIALS_DIRECTORY + " under systemd; not visible"
                    + " here, so not checked");
        }
        try {
            if (!PrivatePaths.exists(path)) {
                int records = MasterKey.sealedFiles(config.instancesDir());
                if (records > 0) {
                    return new Result(false, name, MasterKey.missingMessage(path, config.instancesDir(), records));
                }
                if (config.masterKeyCredential().isPresent()) {
                    return new Result(false, name, "credential " + path + " does not exist");
                }
                return new Result(Status.WARN, name, path + " does not exist yet: run 'vtpmback init' (or the daemon's first"
                        + " start makes it), then back it up");
            }
            MasterKey key = MasterKey.load(path);
            String file = path + " is a regular file of this uid, mode "
                    + PrivatePaths.octal(PrivatePaths.attributes(path).orElseThrow().permissions()) + ", " + MasterKey.LENGTH + " bytes";
            return opens(config, key, name, file);
        } catch (IOException e) {
            return new Result(false, name, e.getMessage());
        }
    }

    /** Whether the key opens the stored records: a key restored from the wrong backup opens none. */
    private static Result opens(VtpmbackConfig config, MasterKey key, String name, String file) throws IOException {
        if (MasterKey.sealedRecords(config.instancesDir()) == 0) {
            return new Result(true, name, file + "; no vTPM stored yet");
        }
        InstanceStore store = Instances.sharedStore(config, key);
        List<Uuid> uuids = store.list();
        int opened = 0;
        for (Uuid uuid : uuids) {
            try {
                store.load(uuid);
                opened++;
            } catch (CorruptStateException e) {
                // counted below; 'vtpmback list' names each
            }
        }
        if (opened == 0 && !uuids.isEmpty()) {
            return new Result(false, name, file + ", but it opens none of the " + uuids.size() + " stored vTPM records:"
                    + " wrong master key (restore the right one from its backup) or damaged files ('vtpmback list')");
        }
        return new Result(opened == uuids.size() ? Status.OK : Status.WARN, name, file + "; opens " + opened + " of "
                + uuids.size() + " stored vTPM records" + (opened == uuids.size() ? "" : " ('vtpmback list' names the others)"));
    }

    /**
     * Whether this JVM, started by the launcher as the daemon is, maps the class-data sharing archive; empty when no
     * archive is configured. A warning only: without it the daemon starts all the same, more slowly.
     */
    static Optional<Result> classDataSharing() {
        ClassDataSharing.State state = ClassDataSharing.state();
        String name = "cds-archive";
        return switch (state) {
            case NOT_CONFIGURED -> Optional.empty();
            case IN_USE -> Optional.of(new Result(true, name, ClassDataSharing.archive().orElseThrow() + " is in use by this"
                    + " Java (" + System.getProperty("java.vm.version") + ") with these jars"));
            default -> Optional.of(new Result(Status.WARN, name, ClassDataSharing.advice(state).orElseThrow()));
        };
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
