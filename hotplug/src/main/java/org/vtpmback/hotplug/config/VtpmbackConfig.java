package org.vtpmback.hotplug.config;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * The daemon's configuration, immutable. Built by {@link ConfigLoader} from the configuration file
 * (default {@value #DEFAULT_FILE_NAME}) and {@code --set key=value} overrides; every key has a default
 * ({@link #defaults()}).
 *
 * @param source           the file the values came from; empty if only defaults and overrides apply
 * @param backendDomid     {@code backend-domid}: the domain this daemon serves as backend (0 = dom0)
 * @param stateDir         {@code state-dir}: where each vTPM's state lives, one folder per uuid
 * @param runtimeDir       {@code runtime-dir}: swtpm sockets and logs; short (UNIX socket paths)
 * @param swtpm            {@code swtpm}: the swtpm executable, a path or a name looked up in PATH
 * @param defaultTpmFamily {@code default-tpm-family}: 2.0 or 1.2 for vTPMs without an override
 * @param host             {@code host}: xen or simulated
 * @param simulationDir    {@code simulation-dir}: the simulation folder (only for host=simulated)
 * @param xenstoredSocket  {@code xenstored-socket}: empty for libxenstore's default
 * @param masterKey        {@code master-key}: the host key every vTPM's state key is derived from; unless
 *                         set, {@code <state-dir>/master.key}
 * @param masterKeyCredential {@code master-key-credential}: if set, the daemon and the commands read the key
 *                         from {@code $CREDENTIALS_DIRECTORY/<name>} (systemd {@code LoadCredentialEncrypted=})
 *                         instead of {@code master-key}
 * @param logLevel         {@code log-level}
 * @param tpmFamilies      {@code tpm-family.<uuid>}: per-vTPM family overrides, uuids in lower case
 * @param swtpmJailing     {@code swtpm-jail}, {@code swtpm-uid-base}, {@code swtpm-uid-count}
 * @param manufacturePool  {@code manufacture-pool}: how many ready-made TPMs the daemon keeps for each family a
 *                         first start can get ({@link #poolSizes()}); 0 keeps none
 * @param store            {@code store}, {@code etcd-*}, {@code pool-host-id}: this host's folder or a pool's etcd
 */
public record VtpmbackConfig(Optional<Path> source, int backendDomid, Path stateDir, Path runtimeDir, String swtpm,
                             TpmFamily defaultTpmFamily, HostKind host, Path simulationDir,
                             Optional<Path> xenstoredSocket, Path masterKey, Optional<String> masterKeyCredential,
                             LogLevel logLevel, Map<String, TpmFamily> tpmFamilies, SwtpmJailing swtpmJailing,
                             int manufacturePool, StoreSettings store) {
    public static final String DEFAULT_FILE_NAME = "/etc/vtpmback/vtpmback.conf";
    /** Where the daemon looks for its configuration unless {@code --config} says otherwise. */
    public static final Path DEFAULT_FILE = Path.of(DEFAULT_FILE_NAME);
    /**
     * {@code manufacture-pool} unless set: a guest or two created at once start without waiting for key
     * generation, for the price of two swtpm states of a few KiB each per family on disk.
     */
    public static final int DEFAULT_MANUFACTURE_POOL = 2;
    /** The most {@code manufacture-pool} takes: each entry is a key generation at start and a file. */
    public static final int MAX_MANUFACTURE_POOL = 64;

    public VtpmbackConfig {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(runtimeDir, "runtimeDir");
        Objects.requireNonNull(swtpm, "swtpm");
        Objects.requireNonNull(defaultTpmFamily, "defaultTpmFamily");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(simulationDir, "simulationDir");
        Objects.requireNonNull(xenstoredSocket, "xenstoredSocket");
        Objects.requireNonNull(masterKey, "masterKey");
        Objects.requireNonNull(masterKeyCredential, "masterKeyCredential");
        Objects.requireNonNull(logLevel, "logLevel");
        tpmFamilies = Map.copyOf(tpmFamilies);
        Objects.requireNonNull(swtpmJailing, "swtpmJailing");
        Objects.requireNonNull(store, "store");
        if (manufacturePool < 0 || manufacturePool > MAX_MANUFACTURE_POOL) {
            throw new IllegalArgumentException("manufacturePool " + manufacturePool + " is not 0.." + MAX_MANUFACTURE_POOL);
        }
    }

    /** Every key at its default, no file. */
    public static VtpmbackConfig defaults() {
        Path stateDir = Path.of("/var/lib/vtpmback");
        return new VtpmbackConfig(Optional.empty(), 0, stateDir, Path.of("/run/vtpmback"), "swtpm",
                TpmFamily.TPM2, HostKind.XEN, Path.of("/tmp/vtpmback-sim"), Optional.empty(),
                defaultMasterKey(stateDir), Optional.empty(), LogLevel.INFO, Map.of(), SwtpmJailing.DEFAULT,
                DEFAULT_MANUFACTURE_POOL, StoreSettings.LOCAL);
    }

    /** {@code master-key} unless set: next to the records it opens, so {@code --set state-dir=X} finds it. */
    public static Path defaultMasterKey(Path stateDir) {
        return stateDir.resolve("master.key");
    }

    /** Where the sealed vTPM records are: {@code <state-dir>/instances}. */
    public Path instancesDir() {
        return stateDir.resolve("instances");
    }

    /** Where the pool of ready-made TPMs is sealed: {@code <state-dir>/pool}, apart from the vTPMs. */
    public Path poolDir() {
        return stateDir.resolve("pool");
    }

    /**
     * How many ready-made TPMs the daemon keeps per family: {@code manufacture-pool} for each family a first start
     * can get (the default family, and each one a {@code tpm-family.<uuid>} names), none for the others (a
     * {@code vtpmback create} manufactures its own). Empty if {@code manufacture-pool} is 0.
     */
    public Map<TpmFamily, Integer> poolSizes() {
        Map<TpmFamily, Integer> sizes = new java.util.EnumMap<>(TpmFamily.class);
        if (manufacturePool > 0) {
            sizes.put(defaultTpmFamily, manufacturePool);
            tpmFamilies.values().forEach(f -> sizes.put(f, manufacturePool));
        }
        return sizes;
    }

    /** The TPM family of the vTPM with this uuid: its {@code tpm-family.<uuid>} override, else the default. */
    public TpmFamily familyOf(org.vtpmback.backend.state.Uuid uuid) {
        return familyOf(uuid.value());
    }

    /** As {@link #familyOf(org.vtpmback.backend.state.Uuid)}, for a uuid in either case. */
    public TpmFamily familyOf(String uuid) {
        return tpmFamilies.getOrDefault(uuid.toLowerCase(Locale.ROOT), defaultTpmFamily);
    }

    /** The configuration file's spelling of a family: {@code 2.0} or {@code 1.2}. */
    public static String familyValue(TpmFamily family) {
        return family == TpmFamily.TPM2 ? "2.0" : "1.2";
    }

    /** Where the daemon finds xenstored, for messages. */
    public String xenstoredDescription() {
        return xenstoredSocket.map(Path::toString).orElse("the default xenstored");
    }

    /** Every effective value in the file's spelling ("" for an unset optional key), in key order. */
    public Map<String, String> values() {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("backend-domid", Integer.toString(backendDomid));
        v.put("state-dir", stateDir.toString());
        v.put("runtime-dir", runtimeDir.toString());
        v.put("swtpm", swtpm);
        v.put("default-tpm-family", familyValue(defaultTpmFamily));
        v.put("manufacture-pool", Integer.toString(manufacturePool));
        v.put("host", host.configValue());
        v.put("simulation-dir", simulationDir.toString());
        v.put("xenstored-socket", xenstoredSocket.map(Path::toString).orElse(""));
        v.put("master-key", masterKey.toString());
        v.put("master-key-credential", masterKeyCredential.orElse(""));
        v.put("log-level", logLevel.configValue());
        v.put("swtpm-jail", swtpmJailing.enabled() ? "yes" : "no");
        v.put("swtpm-uid-base", Integer.toString(swtpmJailing.firstUid()));
        v.put("swtpm-uid-count", Integer.toString(swtpmJailing.uidCount()));
        v.put("store", store.kind().configValue());
        v.put("etcd-endpoints", String.join(",", store.endpoints().stream().map(java.net.URI::toString).toList()));
        v.put("etcd-ca", store.ca().map(Path::toString).orElse(""));
        v.put("etcd-cert", store.cert().map(Path::toString).orElse(""));
        v.put("etcd-key", store.key().map(Path::toString).orElse(""));
        v.put("etcd-prefix", store.prefix());
        v.put("etcd-lease-ttl", Integer.toString(store.leaseTtl()));
        v.put("pool-host-id", store.hostId().orElse(""));
        new TreeMap<>(tpmFamilies).forEach((uuid, family) -> v.put(ConfigLoader.TPM_FAMILY_PREFIX + uuid, familyValue(family)));
        return v;
    }

    /** Every effective value as {@code key = value} lines, in the file's syntax and key order, with notes. */
    public List<String> describe() {
        Map<String, String> notes = new HashMap<>();
        if (host != HostKind.SIMULATED) {
            notes.put("simulation-dir", "unused: host=xen");
        }
        notes.put("xenstored-socket", xenstoredSocket.isEmpty() ? "libxenstore default" : null);
        notes.put("master-key", masterKeyCredential.isPresent() ? "unused: master-key-credential is set" : null);
        notes.put("master-key-credential", masterKeyCredential.isEmpty() ? "none: the key is the master-key file" : null);
        notes.put("swtpm-jail", swtpmJailing.enabled() ? null : "swtpm runs as root, unconfined");
        notes.put("manufacture-pool", poolSizes().isEmpty() ? "no pool: every first start generates its keys"
                : "kept for " + String.join(" and ", poolSizes().keySet().stream().map(VtpmbackConfig::familyValue).toList())
                + ", in " + poolDir());
        if (store.kind() == StoreSettings.Kind.LOCAL) {
            notes.put("store", "vTPM records in " + instancesDir());
            for (String k : List.of("etcd-endpoints", "etcd-ca", "etcd-cert", "etcd-key", "etcd-prefix", "etcd-lease-ttl", "pool-host-id")) {
                notes.put(k, "unused: store = local");
            }
        } else {
            notes.put("store", "vTPM records in the pool's etcd; revision marks in " + stateDir);
            notes.put("etcd-ca", store.tls() ? null : "plain http");
            notes.put("pool-host-id", store.hostId().isEmpty() ? "the host name" : null);
        }
        List<String> lines = new ArrayList<>();
        values().forEach((key, value) -> {
            String note = notes.get(key);
            lines.add(key + " = " + value + (note == null ? "" : "   (" + note + ")"));
        });
        return lines;
    }
}
