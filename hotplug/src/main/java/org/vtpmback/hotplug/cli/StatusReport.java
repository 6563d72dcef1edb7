package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import org.vtpmback.backend.device.DeviceStatus;
import org.vtpmback.backend.instance.InstanceStatus;
import org.vtpmback.hotplug.config.VtpmbackConfig;

/**
 * The running daemon's status as it travels over the control socket: one header line naming the fields, then one
 * line per device, fields separated by tabs, "-" for none. A plain format both ends can read without a JSON
 * parser; {@code vtpmback status} turns it into its table or its JSON. Every value is escaped
 * ({@link OneLineFormatter#escape}) so that no field can carry a tab or a newline.
 */
final class StatusReport {
    static final String MAGIC = "vtpmback-status 1";
    static final List<String> FIELDS = List.of("domid", "domain", "devid", "uuid", "family", "start_mode", "state",
            "commands", "idle_s", "swtpm_pid", "swtpm_rss_kib", "generation", "store_problem");
    /** Numbers in the JSON form (the rest are strings). */
    private static final Set<String> NUMERIC = Set.of("domid", "devid", "commands", "idle_s", "swtpm_pid", "swtpm_rss_kib",
            "generation");
    private static final String NONE = "-";

    private StatusReport() {
    }

    /** The report the daemon sends: {@code daemon <pid> <version>}, the field names, one line per device. */
    static String encode(List<DeviceStatus> devices) {
        StringBuilder sb = new StringBuilder(MAGIC).append('\n');
        sb.append("daemon ").append(ProcessHandle.current().pid()).append(' ').append(Version.get()).append('\n');
        sb.append(String.join("\t", FIELDS)).append('\n');
        for (DeviceStatus d : devices) {
            List<String> row = new ArrayList<>();
            row.add(Integer.toString(d.id().frontendDomid()));
            row.add(d.domainName().orElse(NONE));
            row.add(Integer.toString(d.id().devid()));
            InstanceStatus i = d.instance().orElse(null);
            row.add(i == null ? NONE : i.uuid().value());
            row.add(i == null ? NONE : VtpmbackConfig.familyValue(i.family()));
            row.add(i == null ? NONE : i.startMode().toString());
            row.add(d.backendState().name());
            row.add(Long.toString(d.commands()));
            row.add(d.sinceLastCommand().map(t -> String.format(Locale.ROOT, "%.1f", t.toMillis() / 1000.0)).orElse(NONE));
            OptionalLong pid = i == null ? OptionalLong.empty() : i.swtpmPid();
            row.add(pid.isPresent() ? Long.toString(pid.getAsLong()) : NONE);
            OptionalLong rss = pid.isPresent() ? rssKib(pid.getAsLong()) : OptionalLong.empty();
            row.add(rss.isPresent() ? Long.toString(rss.getAsLong()) : NONE);
            row.add(i == null ? NONE : Long.toString(i.generation()));
            row.add(i == null ? NONE : i.storeProblem().orElse(NONE));
            sb.append(String.join("\t", row.stream().map(v -> OneLineFormatter.escape(v).replace("\t", "\\t")).toList()))
                    .append('\n');
        }
        return sb.toString();
    }

    /** A process's resident memory from /proc/<pid>/status (VmRSS, in KiB), if it can be read. */
    static OptionalLong rssKib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return OptionalLong.of(Long.parseLong(line.substring(6).replace("kB", "").strip()));
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone meanwhile, or /proc hidden: shown as none
        }
        return OptionalLong.empty();
    }

    /** The daemon's report as read by a client. */
    record Decoded(long daemonPid, String version, List<Map<String, Object>> devices) {
    }

    /** Reads what {@link #encode} wrote; throws if it is not such a report. */
    static Decoded decode(String text) {
        String[] lines = text.split("\n");
        if (lines.length < 3 || !lines[0].equals(MAGIC) || !lines[1].startsWith("daemon ")) {
            throw new IllegalArgumentException("not a vtpmback status report: "
                    + OneLineFormatter.escape(text.length() > 80 ? text.substring(0, 80) + "..." : text));
        }
        String[] daemon = lines[1].split(" ", 3);
        List<String> fields = List.of(lines[2].split("\t", -1));
        List<Map<String, Object>> devices = new ArrayList<>();
        for (int n = 3; n < lines.length; n++) {
            String[] values = lines[n].split("\t", -1);
            Map<String, Object> row = new LinkedHashMap<>();
            for (int f = 0; f < fields.size() && f < values.length; f++) {
                row.put(fields.get(f), value(fields.get(f), values[f]));
            }
            devices.add(row);
        }
        return new Decoded(Long.parseLong(daemon[1]), daemon.length > 2 ? daemon[2] : "?", devices);
    }

    private static Object value(String field, String text) {
        if (text.equals(NONE)) {
            return null;
        }
        if (NUMERIC.contains(field)) {
            try {
                return text.contains(".") ? (Object) Double.parseDouble(text) : (Object) Long.parseLong(text);
            } catch (NumberFormatException e) {
                return text;
            }
        }
        return text;
    }
}
