package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.StaleGenerationException;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * {@code vtpmback pool push|pull [uuid...]}: moves records from this host's folder into etcd, or back. Per uuid: refused
 * while the vTPM runs (here: its runtime folder; in the pool: an owner key), refused if the other side holds the same or
 * a newer generation, written to the destination first, and only then the source retired (local: {@link
 * InstanceStore#delete} with its retired mark; etcd: deleted only at the revision read and while no host owns it).
 */
final class PoolMoves {
    static final String PUSH = "push";
    static final String PULL = "pull";

    private PoolMoves() {
    }

    /** How one uuid went; {@code moved} false means nothing was changed on either side unless the detail says so. */
    private record Outcome(Uuid uuid, boolean moved, long generation, String detail) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("uuid", uuid.value());
            m.put("result", moved ? "moved" : "refused");
            m.put("generation", generation == 0 ? null : generation);
            m.put("detail", detail);
            return m;
        }

        String line() {
            return String.format("%-36s  %-7s  %s", uuid, moved ? "moved" : "REFUSED", detail);
        }
    }

    static int run(Invocation inv, VtpmbackConfig config) {
        String direction = inv.args().get(0);
        if (!direction.equals(PUSH) && !direction.equals(PULL)) {
            return Main.usage(inv, "'" + direction + "' is neither push (local to etcd) nor pull (etcd to local)");
        }
        if (config.store().endpoints().isEmpty()) {
            return Main.fail(inv, "etcd-endpoints is not set: set it (and etcd-ca, etcd-cert, etcd-key for https) in "
                    + VtpmbackConfig.DEFAULT_FILE + " or with --set; nothing was moved");
        }
        List<Uuid> uuids = new ArrayList<>();
        try {
            for (String a : inv.args().subList(1, inv.args().size())) {
                uuids.add(Uuid.parse(a));
            }
        } catch (IllegalArgumentException e) {
            return Main.usage(inv, e.getMessage());
        }
        List<Outcome> outcomes = new ArrayList<>();
        try {
            Optional<MasterKey> key = MasterKeys.forCommand(config, System.getenv());
            if (key.isEmpty()) {
                return Main.fail(inv, "no master key at " + config.masterKey() + ": the pool's key must be on this host"
                        + " (docs/pool.md); nothing was moved");
            }
            InstanceStore local = Instances.sharedStore(config, key.get());
            PoolAdmin pool = PoolStores.admin(config);
            try (RecordSealing sealing = new RecordSealing(key.get(), "etcd " + config.store().prefix())) {
                if (uuids.isEmpty()) {
                    uuids = direction.equals(PUSH) ? local.list()
                            : pool.list().stream().filter(e -> e.record().isPresent()).map(PoolAdmin.Entry::uuid).toList();
                }
                for (Uuid uuid : uuids) {
                    outcomes.add(direction.equals(PUSH) ? push(config, local, pool, sealing, uuid)
                            : pull(config, local, pool, sealing, uuid));
                }
            }
        } catch (IOException | RuntimeException e) {
            outcomes.forEach(o -> inv.out().println(o.line()));
            return Main.fail(inv, "pool " + direction + " stopped after " + outcomes.size() + " vTPM(s): " + e.getMessage());
        }
        if (inv.has(ListCommand.JSON)) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("direction", direction);
            doc.put("vtpms", outcomes.stream().map(Outcome::json).toList());
            inv.out().println(Json.of(doc));
        } else {
            outcomes.forEach(o -> inv.out().println(o.line()));
        }
        long refused = outcomes.stream().filter(o -> !o.moved()).count();
        return refused == 0 ? Main.OK : Main.fail(inv, refused + " of " + outcomes.size() + " vTPM(s) not moved (reasons above)");
    }

    private static Outcome push(VtpmbackConfig config, InstanceStore local, PoolAdmin pool, RecordSealing sealing, Uuid uuid)
            throws IOException {
        if (InstanceCommands.inUse(config, uuid).isPresent()) {
            return new Outcome(uuid, false, 0, "in use by the daemon here: stop (or save) its domain first");
        }
        InstanceRecord record;
        try {
            Optional<InstanceRecord> r = local.load(uuid);
            if (r.isEmpty()) {
                return new Outcome(uuid, false, 0, "not stored in " + config.instancesDir());
            }
            record = r.get();
        } catch (CorruptStateException e) {
            return new Outcome(uuid, false, 0, e.getMessage());
        }
        PoolAdmin.Entry there = pool.entry(uuid);
        if (there.owner().isPresent()) {
            return new Outcome(uuid, false, record.generation(), "host " + there.owner().get() + " owns it in the pool");
        }
        long expected = 0;
        if (there.record().isPresent()) {
            InstanceRecord theirs;
            try {
                theirs = sealing.open(uuid, there.record().get().sealed(), there.record().get().toString());
            } catch (CorruptStateException e) {
                return new Outcome(uuid, false, record.generation(), "etcd holds a record this key cannot open: " + e.getMessage());
            }
            if (sameState(theirs, record)) {
                local.delete(uuid); // an earlier push wrote it and stopped before it retired the source
                return new Outcome(uuid, true, record.generation(), "already in etcd at revision "
                        + there.record().get().modRevision() + " with the same state; local file retired");
            }
            if (theirs.generation() >= record.generation()) {
                return new Outcome(uuid, false, record.generation(), "etcd holds generation " + theirs.generation()
                        + ", this host " + record.generation() + ": not newer here, so nothing was written");
            }
            expected = there.record().get().modRevision();
        }
        Optional<Long> revision = pool.putIfUnowned(uuid, sealing.seal(record), expected);
        if (revision.isEmpty()) {
            return new Outcome(uuid, false, record.generation(), "etcd's record or owner changed while it was written: nothing"
                    + " was written; run push again");
        }
        local.delete(uuid); // the destination committed: retire the source (its mark stays, flagged deleted)
        return new Outcome(uuid, true, record.generation(), "generation " + record.generation() + " to etcd revision "
                + revision.get() + "; local file retired");
    }

    private static Outcome pull(VtpmbackConfig config, InstanceStore local, PoolAdmin pool, RecordSealing sealing, Uuid uuid)
            throws IOException {
        if (InstanceCommands.inUse(config, uuid).isPresent()) {
            return new Outcome(uuid, false, 0, "in use by the daemon here: stop (or save) its domain first");
        }
        PoolAdmin.Entry there = pool.entry(uuid);
        if (there.record().isEmpty()) {
            return new Outcome(uuid, false, 0, "no record in etcd under " + config.store().prefix());
        }
        if (there.owner().isPresent()) {
            return new Outcome(uuid, false, 0, "host " + there.owner().get() + " owns it in the pool: stop its domain there first");
        }
        InstanceRecord theirs;
        try {
            theirs = sealing.open(uuid, there.record().get().sealed(), there.record().get().toString());
            Optional<InstanceRecord> mine = local.load(uuid);
            if (mine.isPresent() && sameState(mine.get(), theirs)) {
                return retireInEtcd(pool, uuid, there, mine.get(), "already here with the same state");
            }
            if (mine.isPresent() && mine.get().generation() >= theirs.generation()) {
                return new Outcome(uuid, false, theirs.generation(), "this host holds generation " + mine.get().generation()
                        + ", etcd " + theirs.generation() + ": not newer in etcd, so nothing was written");
            }
        } catch (CorruptStateException e) {
            return new Outcome(uuid, false, 0, e.getMessage());
        }
        InstanceRecord stored;
        try {
            stored = local.importRecord(theirs, false);
        } catch (StaleGenerationException e) {
            return new Outcome(uuid, false, theirs.generation(), e.getMessage());
        }
        return retireInEtcd(pool, uuid, there, stored, "etcd revision " + there.record().get().modRevision()
                + " stored here as generation " + stored.generation());
    }

    /** Deletes etcd's record now that this host holds {@code here}: only at the revision read, and while no host owns it. */
    private static Outcome retireInEtcd(PoolAdmin pool, Uuid uuid, PoolAdmin.Entry there, InstanceRecord here, String done)
            throws IOException {
        if (!pool.takeOutIfUnowned(uuid, there.record().get().modRevision())) {
            return new Outcome(uuid, false, here.generation(), done + ", but etcd's record changed or a host took it"
                    + " meanwhile, so it was left in etcd: two copies now exist; compare them ('vtpmback list' with"
                    + " store = local and with store = etcd) and keep the newer");
        }
        return new Outcome(uuid, true, here.generation(), done + "; etcd record deleted");
    }

    /**
     * Whether two records hold the same TPM state (generations aside: a pull stores above the local retired mark), so
     * that a move that stopped between its write and its retirement can finish without writing again.
     */
    private static boolean sameState(InstanceRecord a, InstanceRecord b) {
        return a.family() == b.family() && a.createdAt().equals(b.createdAt()) && a.lastEnd() == b.lastEnd()
                && Arrays.equals(a.permanent(), b.permanent())
                && a.snapshot().map(InstanceRecord.Snapshot::reason).equals(b.snapshot().map(InstanceRecord.Snapshot::reason))
                && Arrays.equals(a.snapshot().map(InstanceRecord.Snapshot::volatileState).orElse(null),
                        b.snapshot().map(InstanceRecord.Snapshot::volatileState).orElse(null));
    }
}
