package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.util.Optional;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.RecordSealing;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.etcd.PoolAdmin;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * The commands on one stored vTPM with {@code store = etcd} (docs/pool.md): {@code export}, {@code ek} and
 * {@code delete} act on the pool's record, opened with the same sealing as the daemon's ({@link RecordSealing}), so they
 * never fall back to a local folder the daemon does not use; {@code create} and {@code import}, which would have to make
 * a record in the pool, are refused with the way round ({@link #refuse}).
 */
final class PoolRecords {
    private PoolRecords() {
    }

    /** One vTPM of the pool as read by a command: its opened record and where it came from. */
    record Pooled(InstanceRecord record, PoolAdmin.Entry entry) {
    }

    /**
     * {@code uuid}'s record in etcd and its owner (of one revision), the record opened with {@code key}; empty if the
     * pool has no record of it.
     *
     * @throws CorruptStateException if the record does not open with this host's copy of the pool's key
     */
    static Optional<Pooled> read(VtpmbackConfig config, MasterKey key, Uuid uuid) throws IOException, CorruptStateException {
        PoolAdmin.Entry entry = PoolStores.admin(config).entry(uuid);
        if (entry.record().isEmpty()) {
            return Optional.empty();
        }
        try (RecordSealing sealing = new RecordSealing(key, "etcd " + config.store().prefix())) {
            return Optional.of(new Pooled(sealing.open(uuid, entry.record().get().sealed(), entry.record().get().toString()),
                    entry));
        }
    }

    /** Why the pool has no record of {@code uuid}, and where to look. */
    static String notStored(VtpmbackConfig config, Uuid uuid) {
        return "no vTPM " + uuid + " in the pool (etcd " + String.join(",", config.store().endpoints().stream()
                .map(Object::toString).toList()) + ", prefix " + config.store().prefix() + "); 'vtpmback list' shows the"
                + " pool's vTPMs (check etcd-prefix, or whether it is still in a host's local folder: pool push moves it)";
    }

    /**
     * Refuses a command that would write a record only this host's folder can take today, with exit status 78 (the
     * configuration decides it): it must never write the local folder while the daemon uses etcd, where the vTPM would
     * be invisible to every host, or fork from the pool's copy.
     */
    static int refuse(Invocation inv, VtpmbackConfig config, String instead) {
        return Main.failConfig(inv, "store = etcd" + config.source().map(f -> " in " + f).orElse("") + ": this command"
                + " writes a host's local folder, which the pool's daemons do not read, so it was not run; " + instead);
    }

    /** {@code create} and {@code import} with store = etcd: the way round through the local store and {@code pool push}. */
    static String throughLocal(String command, String uuid) {
        return "run it against the local store ('vtpmback " + command + " ... --set store=local'), then move the vTPM into"
                + " the pool with 'vtpmback pool push " + uuid + "'; nothing was written";
    }
}
