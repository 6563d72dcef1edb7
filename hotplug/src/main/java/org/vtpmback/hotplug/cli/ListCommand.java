package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback list}: one row per stored vTPM, as a table or ({@code --json}) one JSON object. The field
 * names of the JSON form are an interface for scripts: {@link StoreCommands.ListStored} documents them.
 */
final class ListCommand {
    static final String JSON = "--json";
    private static final String ROW = "%-36s  %-6s  %10s  %-14s  %-16s  %-20s  %s";
    private static final String POOL_ROW = ROW + "  %s";

    private ListCommand() {
    }

    /**
     * One stored vTPM as read, or the reason it could not be ({@code error}; null for a pool's vTPM that is owned but
     * has no record yet). {@code owner} is null with the local store, else the pool host owning it, or empty.
     */
    private record Row(Uuid uuid, Optional<InstanceRecord> record, String error, boolean inUse, Optional<User> user,
                       Optional<String> owner) {
        boolean unreadable() {
            return record.isEmpty() && error != null;
        }

        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("uuid", uuid.value());
            if (owner != null) {
                m.put("owner", owner.orElse(null));
            }
            if (record.isEmpty()) {
                m.put("error", error == null ? "no record yet (owned, nothing committed)" : error);
                return m;
            }
            InstanceRecord r = record.get();
            m.put("family", VtpmbackConfig.familyValue(r.family()));
            m.put("generation", r.generation());
            m.put("last_end", r.lastEnd().toString());
            m.put("snapshot", r.snapshot().map(s -> s.reason().toString()).orElse(null));
            m.put("created", created(r));
            m.put("in_use", inUse);
            m.put("domid", user.map(User::domid).orElse(null));
            m.put("domain", user.flatMap(User::name).orElse(null));
            return m;
        }

        String line() {
            String ownedBy = owner == null ? "" : "  owner " + owner.orElse("-");
            if (record.isEmpty()) {
                return error == null ? String.format("%-36s  no record yet%s", uuid, ownedBy)
                        : String.format("%-36s  UNREADABLE: %s%s", uuid, error, ownedBy);
            }
            InstanceRecord r = record.get();
            String use = user.map(User::text).orElse(inUse ? "in use" : "-");
            String snapshot = r.snapshot().map(s -> s.reason().toString()).orElse("-");
            String family = VtpmbackConfig.familyValue(r.family());
            return owner == null ? String.format(ROW, uuid, family, r.generation(), r.lastEnd(), snapshot, created(r), use)
                    : String.format(POOL_ROW, uuid, family, r.generation(), r.lastEnd(), snapshot, created(r),
                            String.format("%-20s", owner.orElse("-")), use);
        }

        private static String created(InstanceRecord r) {
            return DateTimeFormatter.ISO_INSTANT.format(r.createdAt().truncatedTo(ChronoUnit.SECONDS));
        }
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        boolean json = inv.has(JSON);
        Optional<MasterKey> key;
        Optional<InstanceStore> store;
        try {
            key = MasterKeys.forCommand(config, System.getenv());
            store = key.isEmpty() ? Optional.empty() : Optional.of(Instances.sharedStore(config, key.get()));
        } catch (MasterKey.Missing e) {
            int records = sealedRecords(config);
            return Main.fail(inv, records + " record" + (records == 1 ? "" : "s") + " unreadable: wrong or missing master key: "
                    + e.getMessage());
        } catch (IOException | RuntimeException e) {
            return Main.fail(inv, e.getMessage());
        }
        if (PoolStores.pooled(config)) {
            if (key.isEmpty()) {
                return Main.fail(inv, "store = etcd, but there is no master key at " + config.masterKey() + ": copy the"
                        + " pool's key to this host (docs/pool.md, 'A 3-host pool from scratch'); nothing was read");
            }
            return print(inv, json, key, true, poolRows(inv, config, key.get()));
        }
        Map<String, User> users = users(config);
        List<Row> rows = new ArrayList<>();
        try {
            for (Uuid uuid : store.isEmpty() ? List.<Uuid>of() : store.get().list()) {
                boolean inUse = InstanceCommands.inUse(config, uuid).isPresent();
                try {
                    rows.add(new Row(uuid, Optional.of(store.get().load(uuid).orElseThrow()), null, inUse,
                            Optional.ofNullable(users.get(uuid.value())), null));
                } catch (CorruptStateException e) {
                    rows.add(new Row(uuid, Optional.empty(), e.getMessage(), inUse, Optional.ofNullable(users.get(uuid.value())),
                            null));
                }
            }
        } catch (RuntimeException e) {
            return Main.fail(inv, "cannot read the vTPM store in " + config.stateDir() + ": " + e.getMessage());
        }
        if (store.isEmpty() && !json) {
            inv.out().println("no vTPMs stored (no master key at " + config.masterKey() + " and no record in "
                    + config.instancesDir() + ")");
            return Main.OK;
        }
        return print(inv, json, key, false, rows);
    }

    /** The pool's vTPMs as etcd holds them, opened with this host's copy of the pool's master key; null if etcd failed. */
    private static List<Row> poolRows(Invocation inv, VtpmbackConfig config, MasterKey key) {
        Map<String, User> users = users(config);
        List<Row> rows = new ArrayList<>();
        try (RecordSealing sealing = new RecordSealing(key, "etcd " + config.store().prefix())) {
            for (PoolAdmin.Entry e : PoolStores.admin(config).list()) {
                boolean inUse = InstanceCommands.inUse(config, e.uuid()).isPresent();
                Optional<User> user = Optional.ofNullable(users.get(e.uuid().value()));
                if (e.record().isEmpty()) {
                    rows.add(new Row(e.uuid(), Optional.empty(), null, inUse, user, e.owner()));
                    continue;
                }
                try {
                    InstanceRecord r = sealing.open(e.uuid(), e.record().get().sealed(), e.record().get().toString());
                    rows.add(new Row(e.uuid(), Optional.of(r), null, inUse, user, e.owner()));
                } catch (CorruptStateException x) {
                    rows.add(new Row(e.uuid(), Optional.empty(), x.getMessage(), inUse, user, e.owner()));
                }
            }
        } catch (IOException e) {
            Main.fail(inv, "cannot list the pool's vTPMs in etcd (" + config.store().endpoints() + ", prefix "
                    + config.store().prefix() + "): " + e.getMessage() + "; 'vtpmback check' tests each member");
            return null;
        }
        return rows;
    }

    private static int print(Invocation inv, boolean json, Optional<MasterKey> key, boolean pooled, List<Row> rows) {
        if (rows == null) {
            return Main.FAILURE;
        }
        if (json) {
            inv.out().println(Json.of(Map.of("vtpms", rows.stream().map(Row::json).toList())));
        } else if (pooled) {
            inv.out().println(String.format(POOL_ROW, "UUID", "FAMILY", "GENERATION", "LAST END", "SNAPSHOT", "CREATED",
                    String.format("%-20s", "OWNER"), "IN USE HERE"));
            rows.forEach(r -> inv.out().println(r.line()));
        } else {
            inv.out().println(String.format(ROW, "UUID", "FAMILY", "GENERATION", "LAST END", "SNAPSHOT", "CREATED", "IN USE"));
            rows.forEach(r -> inv.out().println(r.line()));
        }
        long unreadable = rows.stream().filter(Row::unreadable).count();
        if (unreadable == 0) {
            return Main.OK;
        }
        String records = unreadable + " record" + (unreadable == 1 ? "" : "s") + " unreadable";
        return Main.fail(inv, unreadable == rows.size()
                ? records + ": wrong or missing master key (" + key.orElseThrow().path() + ") or damaged files;"
                        + " if the key was replaced, restore the right one from its backup"
                : unreadable + " of " + rows.size() + " records unreadable: damaged, or sealed with another master key");
    }

    /** The domain a running daemon serves a vTPM to ({@code vtpmback status}). */
    private record User(long domid, Optional<String> name) {
        String text() {
            return "domain " + domid + name.map(n -> " (" + OneLineFormatter.escape(n) + ")").orElse("");
        }
    }

    /** uuid to the domain using it, as the running daemon says; empty if none answers (then only "in use" is known). */
    private static Map<String, User> users(VtpmbackConfig config) {
        Map<String, User> users = new java.util.HashMap<>();
        try {
            StatusReport.Decoded report = StatusReport.decode(
                    StatusCommand.ask(config.runtimeDir().resolve(ControlServer.SOCKET), ControlServer.STATUS));
            for (Map<String, Object> d : report.devices()) {
                if (d.get("uuid") instanceof String uuid && d.get("domid") instanceof Long domid) {
                    users.put(uuid, new User(domid, Optional.ofNullable((String) d.get("domain"))));
                }
            }
        } catch (IOException | RuntimeException e) {
            // no daemon (or not ours): the runtime folder still tells "in use"
        }
        return users;
    }

    private static int sealedRecords(VtpmbackConfig config) {
        try {
            return MasterKey.sealedRecords(config.instancesDir());
        } catch (IOException e) {
            return 0;
        }
    }
}
