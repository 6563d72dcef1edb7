package org.vtpmback.hotplug.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.DomainId;

/**
 * Reads a {@link VtpmbackConfig}: the file, then {@code --set key=value} overrides, every key optional.
 *
 * <p>The file is a subset of the Java properties syntax: one {@code key = value} (or {@code key: value})
 * per line, blank lines and lines starting with {@code #} or {@code !} ignored, a {@code #} after a blank
 * starts a comment to the end of the line, surrounding blanks trimmed, UTF-8. No escapes and no
 * continuation lines. An unknown key, a key set twice or a bad value
 * is an error naming the file, the line and the key; nothing is silently ignored.
 */
public final class ConfigLoader {
    /** Prefix of the per-vTPM family override keys, {@code tpm-family.<uuid>}. */
    public static final String TPM_FAMILY_PREFIX = "tpm-family.";
    /**
     * Longest runtime-dir: a UNIX socket path has at most 106 bytes (Java's limit; swtpm's is 107), and
     * the longest socket swtpm gets is {@code /instances/<uuid>.new/ctrl} (56 bytes): its sockets are
     * in its own folder.
     */
    static final int MAX_RUNTIME_DIR_BYTES = 106 - 56;

    /** The keys, in documentation order, each with its setter. */
    private static final Map<String, BiConsumer<Builder, String>> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("backend-domid", (b, v) -> b.backendDomid = domid(v));
        KEYS.put("state-dir", (b, v) -> b.stateDir = absolutePath(v));
        KEYS.put("runtime-dir", (b, v) -> b.runtimeDir = runtimeDir(v));
        KEYS.put("swtpm", (b, v) -> b.swtpm = nonEmpty(v));
        KEYS.put("default-tpm-family", (b, v) -> b.defaultTpmFamily = family(v));
        KEYS.put("manufacture-pool", (b, v) -> b.manufacturePool = upTo(v, VtpmbackConfig.MAX_MANUFACTURE_POOL));
        KEYS.put("host", (b, v) -> b.host = oneOf(v, HostKind.values(), HostKind::configValue));
        KEYS.put("simulation-dir", (b, v) -> b.simulationDir = absolutePath(v));
        KEYS.put("xenstored-socket", (b, v) -> b.xenstoredSocket = v.isEmpty() ? Optional.empty() : Optional.of(absolutePath(v)));
        KEYS.put("master-key", (b, v) -> b.masterKey = absolutePath(v));
        KEYS.put("master-key-credential", (b, v) ->
                b.masterKeyCredential = v.isEmpty() ? Optional.empty() : Optional.of(credentialName(v)));
        KEYS.put("log-level", (b, v) -> b.logLevel = oneOf(v, LogLevel.values(), LogLevel::configValue));
        KEYS.put("swtpm-jail", (b, v) -> b.jail = new SwtpmJailing(yesNo(v), b.jail.firstUid(), b.jail.uidCount()));
        KEYS.put("swtpm-uid-base", (b, v) -> b.jail = new SwtpmJailing(b.jail.enabled(), positive(v), b.jail.uidCount()));
        KEYS.put("swtpm-uid-count", (b, v) -> b.jail = new SwtpmJailing(b.jail.enabled(), b.jail.firstUid(), positive(v)));
        KEYS.put("store", (b, v) -> b.store = b.store(oneOf(v, StoreSettings.Kind.values(), StoreSettings.Kind::configValue),
                null, null, null, null, null, null, null));
        KEYS.put("etcd-endpoints", (b, v) -> b.store = b.store(null, endpoints(v), null, null, null, null, null, null));
        KEYS.put("etcd-ca", (b, v) -> b.store = b.store(null, null, Optional.of(pemFile(v)), null, null, null, null, null));
        KEYS.put("etcd-cert", (b, v) -> b.store = b.store(null, null, null, Optional.of(pemFile(v)), null, null, null, null));
        KEYS.put("etcd-key", (b, v) -> b.store = b.store(null, null, null, null, Optional.of(pemFile(v)), null, null, null));
        KEYS.put("etcd-prefix", (b, v) -> b.store = b.store(null, null, null, null, null, prefix(v), null, null));
        KEYS.put("etcd-lease-ttl", (b, v) -> b.store = b.store(null, null, null, null, null, null, leaseTtl(v), null));
        KEYS.put("pool-host-id", (b, v) -> b.store = b.store(null, null, null, null, null, null, null, Optional.of(hostId(v))));
    }

    private ConfigLoader() {
    }

    /** The names of the plain keys, in documentation order (plus {@code tpm-family.<uuid>}). */
    public static List<String> keys() {
        return List.copyOf(KEYS.keySet());
    }

    /**
     * Loads the configuration.
     *
     * @param file      {@code --config FILE}, which must exist; empty for {@link VtpmbackConfig#DEFAULT_FILE},
     *                  which may be missing (then the defaults apply)
     * @param overrides {@code --set} arguments, {@code key=value}, applied after the file in order
     * @throws ConfigException naming the file and line, or the {@code --set} argument, and the key
     */
    public static VtpmbackConfig load(Optional<Path> file, List<String> overrides) {
        Path path = file.orElse(VtpmbackConfig.DEFAULT_FILE);
        Optional<String> text;
        try {
            byte[] bytes = Files.readAllBytes(path);
            text = Optional.of(StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString());
        } catch (NoSuchFileException e) {
            if (file.isPresent()) {
                throw new ConfigException(path + ": no such configuration file", true, e);
            }
            text = Optional.empty();
        } catch (CharacterCodingException e) {
            throw new ConfigException(path + ": not UTF-8 text", false, e);
        } catch (IOException e) {
            throw new ConfigException(path + ": cannot read the configuration file: " + e, false, e);
        }
        return parse(text.map(t -> Map.entry(path, t)), overrides);
    }

    /** Parses {@code file} (path and text), if any, then applies {@code overrides}. */
    public static VtpmbackConfig parse(Optional<Map.Entry<Path, String>> file, List<String> overrides) {
        Builder b = new Builder();
        file.ifPresent(f -> {
            b.source = Optional.of(f.getKey());
            parseFile(b, f.getKey(), f.getValue());
        });
        Map<String, String> seen = new HashMap<>();
        for (String arg : overrides) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException("--set " + arg + ": expected --set key=value", true);
            }
            String key = arg.substring(0, eq).trim();
            String previous = seen.put(key, arg);
            if (previous != null) {
                throw new ConfigException("--set " + arg + ": key '" + key + "' already set by --set " + previous, true);
            }
            apply(b, key, arg.substring(eq + 1).trim(), "--set " + arg, true);
        }
        return b.build();
    }

    private static void parseFile(Builder b, Path path, String text) {
        Map<String, Integer> seen = new HashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String where = path + ":" + (i + 1);
            String line = withoutComment(lines[i]).strip();
            if (line.isEmpty() || line.startsWith("#") || line.startsWith("!")) {
                continue;
            }
            if (line.endsWith("\\")) {
                throw new ConfigException(where + ": continuation lines (trailing \\) are not supported", false);
            }
            int sep = separator(line);
            if (sep <= 0) {
                throw new ConfigException(where + ": expected 'key = value', got '" + line + "'", false);
            }
            String key = line.substring(0, sep).strip();
            Integer previous = seen.put(key, i + 1);
            if (previous != null) {
                throw new ConfigException(where + ": key '" + key + "' is already set on line " + previous, false);
            }
            apply(b, key, line.substring(sep + 1).strip(), where, false);
        }
    }

    /**
     * {@code line} up to a {@code #} that follows a blank: {@code log-level = info  # quieter} is
     * {@code log-level = info}, while {@code swtpm = /opt/swtpm#2/bin/swtpm} keeps its {@code #}
     * (vtpmback.conf(5), SYNTAX).
     */
    static String withoutComment(String line) {
        for (int i = 1; i < line.length(); i++) {
            if (line.charAt(i) == '#' && (line.charAt(i - 1) == ' ' || line.charAt(i - 1) == '\t')) {
                return line.substring(0, i);
            }
        }
        return line;
    }

    private static int separator(String line) {
        int eq = line.indexOf('=');
        int colon = line.indexOf(':');
        if (eq < 0) {
            return colon;
        }
        return colon < 0 ? eq : Math.min(eq, colon);
    }

    private static void apply(Builder b, String key, String value, String where, boolean commandLine) {
        try {
            if (key.startsWith(TPM_FAMILY_PREFIX)) {
                Uuid uuid = Uuid.parse(key.substring(TPM_FAMILY_PREFIX.length()));
                b.tpmFamilies.put(uuid.value(), family(value));
                return;
            }
            BiConsumer<Builder, String> setter = KEYS.get(key);
            if (setter == null) {
                throw new ConfigException(where + ": unknown key '" + key + "' (known keys: "
                        + String.join(", ", KEYS.keySet()) + ", " + TPM_FAMILY_PREFIX + "<uuid>)", commandLine);
            }
            setter.accept(b, value);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(where + ": bad value for " + key + ": " + e.getMessage(), commandLine, e);
        }
    }

    private static int domid(String v) {
        int domid;
        try {
            domid = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + v + "' is not a domain id (a number, 0 for dom0)", e);
        }
        return new DomainId(domid).value(); // throws for ids from DOMID_FIRST_RESERVED on
    }

    private static Path absolutePath(String v) {
        if (v.isEmpty()) {
            throw new IllegalArgumentException("empty; give an absolute path");
        }
        Path p;
        try {
            p = Path.of(v);
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException("'" + v + "' is not a path: " + e.getReason(), e);
        }
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException("'" + v + "' is not an absolute path");
        }
        return p.normalize();
    }

    private static Path runtimeDir(String v) {
        Path p = absolutePath(v);
        int bytes = p.toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_RUNTIME_DIR_BYTES) {
            throw new IllegalArgumentException("'" + v + "' is " + bytes + " bytes long; swtpm's UNIX socket paths"
                    + " must fit in 106 bytes, so keep it to " + MAX_RUNTIME_DIR_BYTES + " bytes");
        }
        return p;
    }

    /** A systemd credential name: one file name, no slash (systemd's own rule). */
    private static String credentialName(String v) {
        if (v.contains("/") || v.equals(".") || v.equals("..") || v.length() > 255) {
            throw new IllegalArgumentException("'" + v + "' is not a credential name (a file name without '/')");
        }
        return v;
    }

    private static boolean yesNo(String v) {
        return switch (v) {
            case "yes" -> true;
            case "no" -> false;
            default -> throw new IllegalArgumentException("'" + v + "' is not yes or no");
        };
    }

    private static int positive(String v) {
        try {
            int n = Integer.parseInt(v);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new IllegalArgumentException("'" + v + "' is not a whole number from 1 to " + Integer.MAX_VALUE);
    }

    private static int upTo(String v, int max) {
        try {
            int n = Integer.parseInt(v);
            if (n >= 0 && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new IllegalArgumentException("'" + v + "' is not a whole number from 0 to " + max);
    }

    /** etcd's client URLs, comma-separated: each http(s)://host:port, as {@code EtcdSettings} takes them. */
    private static List<java.net.URI> endpoints(String v) {
        List<java.net.URI> out = new java.util.ArrayList<>();
        for (String part : v.split(",", -1)) {
            String e = part.strip();
            String expected = "'" + e + "' is not an etcd client URL http(s)://host:port (e.g. https://10.0.0.1:2379);"
                    + " separate several with commas";
            java.net.URI uri;
            try {
                uri = new java.net.URI(e);
            } catch (java.net.URISyntaxException x) {
                throw new IllegalArgumentException(expected + " (" + x.getReason() + ")", x);
            }
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null || uri.getPort() < 0
                    || !(uri.getPath() == null || uri.getPath().isEmpty() || uri.getPath().equals("/"))) {
                throw new IllegalArgumentException(expected);
            }
            out.add(uri);
        }
        return out;
    }

    /** A PEM file for TLS to etcd: an absolute path to a readable file, checked now so a typo fails at start. */
    private static Path pemFile(String v) {
        Path p = absolutePath(v);
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
            throw new IllegalArgumentException("'" + v + "' is not a readable file (a PEM certificate or key)");
        }
        return p;
    }

    private static String prefix(String v) {
        if (!v.startsWith("/") || v.endsWith("/") || v.contains("//") || v.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
            throw new IllegalArgumentException("'" + v + "' is not a key prefix: it starts with '/', does not end with one,"
                    + " and has no blanks (e.g. /vtpmback)");
        }
        return v;
    }

    private static int leaseTtl(String v) {
        int ttl = positive(v);
        try {
            org.vtpmback.etcd.LeaseTiming.of(java.time.Duration.ofSeconds(ttl));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + v + "': " + e.getMessage() + " (seconds, at least 2; 10 by default)", e);
        }
        return ttl;
    }

    private static String hostId(String v) {
        return new org.vtpmback.etcd.HostId(v).value();
    }

    private static String nonEmpty(String v) {
        if (v.isEmpty()) {
            throw new IllegalArgumentException("empty");
        }
        return v;
    }

    /** A family as the configuration spells it, {@code 2.0} or {@code 1.2} (also {@code vtpmback create --family}). */
    public static TpmFamily family(String v) {
        switch (v) {
            case "2.0":
                return TpmFamily.TPM2;
            case "1.2":
                return TpmFamily.TPM12;
            default:
                throw new IllegalArgumentException("'" + v + "' is not a TPM family (2.0 or 1.2)");
        }
    }

    private static <E extends Enum<E>> E oneOf(String v, E[] values, java.util.function.Function<E, String> spelling) {
        for (E e : values) {
            if (spelling.apply(e).equals(v)) {
                return e;
            }
        }
        StringBuilder allowed = new StringBuilder();
        for (E e : values) {
            allowed.append(allowed.length() == 0 ? "" : " | ").append(spelling.apply(e));
        }
        throw new IllegalArgumentException("'" + v + "' is not one of " + allowed);
    }

    /** Mutable accumulator, starting at the defaults. */
    private static final class Builder {
        private final VtpmbackConfig d = VtpmbackConfig.defaults();
        Optional<Path> source = Optional.empty();
        int backendDomid = d.backendDomid();
        Path stateDir = d.stateDir();
        Path runtimeDir = d.runtimeDir();
        String swtpm = d.swtpm();
        TpmFamily defaultTpmFamily = d.defaultTpmFamily();
        HostKind host = d.host();
        Path simulationDir = d.simulationDir();
        Optional<Path> xenstoredSocket = d.xenstoredSocket();
        /** Null unless set: then it follows state-dir. */
        Path masterKey;
        Optional<String> masterKeyCredential = d.masterKeyCredential();
        LogLevel logLevel = d.logLevel();
        final Map<String, TpmFamily> tpmFamilies = new HashMap<>();
        SwtpmJailing jail = d.swtpmJailing();
        int manufacturePool = d.manufacturePool();
        StoreSettings store = d.store();

        /** The store settings with the non-null arguments changed. */
        StoreSettings store(StoreSettings.Kind kind, List<java.net.URI> endpoints, Optional<Path> ca, Optional<Path> cert,
                            Optional<Path> key, String prefix, Integer leaseTtl, Optional<String> hostId) {
            StoreSettings s = store;
            return new StoreSettings(kind != null ? kind : s.kind(), endpoints != null ? endpoints : s.endpoints(),
                    ca != null ? ca : s.ca(), cert != null ? cert : s.cert(), key != null ? key : s.key(),
                    prefix != null ? prefix : s.prefix(), leaseTtl != null ? leaseTtl : s.leaseTtl(),
                    hostId != null ? hostId : s.hostId());
        }

        VtpmbackConfig build() {
            store.problem().ifPresent(p -> {
                throw new ConfigException(source.map(f -> f + ": ").orElse("") + p, source.isEmpty());
            });
            return new VtpmbackConfig(source, backendDomid, stateDir, runtimeDir, swtpm, defaultTpmFamily, host,
                    simulationDir, xenstoredSocket, masterKey != null ? masterKey : VtpmbackConfig.defaultMasterKey(stateDir),
                    masterKeyCredential, logLevel, tpmFamilies, jail, manufacturePool, store);
        }
    }
}
