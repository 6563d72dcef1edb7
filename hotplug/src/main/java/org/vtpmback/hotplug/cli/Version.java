package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The project version, from {@code version.properties} (filtered by Maven at build time). */
final class Version {
    private static final String VALUE = load();

    private Version() {
    }

    static String get() {
        return VALUE;
    }

    private static String load() {
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isEmpty() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through: the version is informational
        }
        return "unknown";
    }
}
